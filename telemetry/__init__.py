"""Prometheus metrics shared by every layer (served on /metrics by bot/routes/metrics.py)."""
