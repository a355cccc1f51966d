"""Prometheus metrics shared by every layer (served on /metrics by bot/web.py)."""
