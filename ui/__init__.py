"""User-facing surfaces of fagprat: the web chat, the Teams bot and the command line."""
