"""Ingest: load files, chunk them and write them to the store."""
