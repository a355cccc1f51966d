"""Block Kit builders: plain data in, blocks (lists of dicts) out. No Slack calls, no database."""
