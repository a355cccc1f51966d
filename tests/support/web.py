"""/metrics of a running server, as Prometheus scrapes it."""
from __future__ import annotations


def scrape(live) -> dict[str, float]:
    body = live.scrape()
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in body.splitlines()
            if line and not line.startswith("#")}
