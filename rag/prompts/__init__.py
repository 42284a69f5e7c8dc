"""Prompt texts (Norwegian), read with importlib.resources by rag.prompting."""
