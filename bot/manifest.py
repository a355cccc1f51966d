"""app.yaml, the Slack app manifest: the single list of commands and scopes the code relies on, and the manifest an
operator pastes into Slack with this deployment's URLs (`mailmagnet manifest`).

app.yaml is package data of `bot`, read with importlib.resources: the installed wheel has it wherever it lives.
"""
from __future__ import annotations

import copy
import re
from functools import lru_cache
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

import yaml

MANIFEST_RESOURCE = "app.yaml"


@lru_cache(maxsize=1)
def load_manifest() -> dict[str, Any]:
    return yaml.safe_load(resources.files("bot").joinpath(MANIFEST_RESOURCE).read_text(encoding="utf-8"))


def bot_scopes() -> list[str]:
    return list(load_manifest()["oauth_config"]["scopes"]["bot"])


class ManifestError(ValueError):
    """The manifest Slack would refuse; the message says which part."""


def check_public_url(public_url: str) -> str:
    """Slack calls request URLs and redirects only over https, on a host (no query or fragment to lose)."""
    parts = urlsplit(public_url)
    if parts.scheme != "https" or not parts.hostname:
        raise ManifestError(f"public URL {public_url!r} must be an https:// URL with a host (Slack calls only https)")
    if parts.query or parts.fragment:
        raise ManifestError(f"public URL {public_url!r} must not have a query or fragment")
    return public_url.rstrip("/")


def _moved(url: str, base: str) -> str:
    """`url` (app.yaml's placeholder host) on this deployment: its path after the public URL (which may have one)."""
    return base + urlsplit(url).path


def manifest_for(public_url: str) -> dict[str, Any]:
    """app.yaml with every URL Slack calls on this deployment: slash commands, interactivity, events, OAuth
    redirect. Raises ManifestError when the result is not a manifest Slack accepts."""
    base = check_public_url(public_url)
    manifest = copy.deepcopy(load_manifest())
    for command in manifest["features"]["slash_commands"]:
        command["url"] = _moved(command["url"], base)
    settings = manifest["settings"]
    for part in ("event_subscriptions", "interactivity"):
        settings[part]["request_url"] = _moved(settings[part]["request_url"], base)
    oauth = manifest["oauth_config"]
    oauth["redirect_urls"] = [_moved(url, base) for url in oauth["redirect_urls"]]
    problems = manifest_problems(manifest)
    if problems:
        raise ManifestError("; ".join(problems))
    return manifest


def manifest_urls(manifest: dict[str, Any]) -> dict[str, list[str]]:
    """Every URL Slack calls, by what it is for."""
    settings = manifest.get("settings") or {}
    return {
        "slash_commands": [c.get("url", "") for c in (manifest.get("features") or {}).get("slash_commands") or []],
        "interactivity": [(settings.get("interactivity") or {}).get("request_url", "")],
        "events": [(settings.get("event_subscriptions") or {}).get("request_url", "")],
        "oauth_redirect": list((manifest.get("oauth_config") or {}).get("redirect_urls") or []),
    }


def manifest_problems(manifest: dict[str, Any]) -> list[str]:
    """What Slack's manifest schema (docs.slack.dev/reference/app-manifest) would refuse, for the fields this app
    uses: required parts, lengths, formats, https URLs on one host."""
    problems = []
    info = manifest.get("display_information") or {}
    if not 0 < len(info.get("name", "")) <= 35:
        problems.append("display_information.name must have 1 to 35 characters")
    if len(info.get("description", "")) > 140:
        problems.append("display_information.description must have at most 140 characters")
    if "background_color" in info and not re.fullmatch(r"#[0-9a-fA-F]{3}(?:[0-9a-fA-F]{3})?",
                                                       info["background_color"]):
        problems.append("display_information.background_color must be a hex color")
    features = manifest.get("features") or {}
    if not 0 < len((features.get("bot_user") or {}).get("display_name", "")) <= 80:
        problems.append("features.bot_user.display_name must have 1 to 80 characters")
    commands = features.get("slash_commands") or []
    if len(commands) > 50:
        problems.append("at most 50 slash commands")
    for command in commands:
        if not re.fullmatch(r"/[a-z0-9_\-]{1,31}", command.get("command", "")):
            problems.append(f"slash command {command.get('command')!r} is not a valid name")
        if not 0 < len(command.get("description", "")) <= 2000 or len(command.get("usage_hint", "")) > 1000:
            problems.append(f"slash command {command.get('command')}: description 1-2000, usage_hint <= 1000 chars")
    scopes = ((manifest.get("oauth_config") or {}).get("scopes") or {}).get("bot") or []
    if not scopes or len(scopes) != len(set(scopes)):
        problems.append("oauth_config.scopes.bot must list each scope once")
    settings = manifest.get("settings") or {}
    if (settings.get("interactivity") or {}).get("is_enabled") is not True:
        problems.append("settings.interactivity.is_enabled must be true (buttons and modals)")
    urls = [url for kind in manifest_urls(manifest).values() for url in kind]
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme != "https" or not parts.hostname:
            problems.append(f"{url!r} is not an https URL")
    if len({urlsplit(url).netloc for url in urls}) > 1:
        problems.append("every URL must be on the deployment's one host")
    return problems
