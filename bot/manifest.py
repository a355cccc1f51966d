"""app.yaml, the Slack app manifest: the single list of commands and scopes the code relies on."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

MANIFEST_PATH = Path(__file__).resolve().parent.parent / "app.yaml"


@lru_cache(maxsize=1)
def load_manifest(path: Path = MANIFEST_PATH) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def bot_scopes() -> list[str]:
    return list(load_manifest()["oauth_config"]["scopes"]["bot"])


def slash_commands() -> list[str]:
    return [c["command"] for c in load_manifest()["features"]["slash_commands"]]
