"""The `mailmagnet` commands, one module per group; `bot/cli.py` holds the table that names them."""
