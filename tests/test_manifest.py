"""app.yaml is a valid Slack app manifest, lists exactly the commands the app registers, and its bot scopes cover
every Slack Web API method the code calls."""
from __future__ import annotations

import inspect
import json
import re
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest
from slack_bolt import BoltRequest, BoltResponse

from bot.manifest import load_manifest, manifest_problems
from bot.services import build_services
from bot.settings import Settings
from bot.slack_app import create_slack_app
from handlers.commands import SLASH_COMMANDS

ROOT = Path(__file__).resolve().parent.parent
CODE_DIRS = ["bot", "handlers", "gmail", "crm_store"]  # what `serve` runs (not the emulators or the tests)

# Bot-token scopes each Web API method needs, from each method's page on docs.slack.dev ("Required scopes").
# Where a method accepts one scope per conversation type, the scopes of every type MailMagnet uses are listed:
# alerts go to public and private channels and to DMs.
METHOD_SCOPES: dict[str, set[str]] = {
    "files.upload.v2": {"files:write"},  # slack_sdk's files_upload_v2: getUploadURLExternal, completeUploadExternal
    "chat.postMessage": {"chat:write"},
    "chat.postEphemeral": {"chat:write"},
    "chat.update": {"chat:write"},
    "chat.delete": {"chat:write"},
    "chat.getPermalink": set(),
    "conversations.info": {"channels:read", "groups:read"},
    "conversations.list": {"channels:read", "groups:read"},
    "conversations.members": {"channels:read", "groups:read"},
    "conversations.history": {"channels:history", "groups:history", "im:history"},
    "conversations.replies": {"channels:history", "groups:history", "im:history"},
    "conversations.open": {"im:write"},
    "conversations.join": {"channels:join"},
    "users.info": {"users:read", "users:read.email"},  # the profile email links Slack users to CRM users
    "users.lookupByEmail": {"users:read.email"},
    "users.list": {"users:read"},
    "team.info": {"team:read"},
    "usergroups.users.list": {"usergroups:read"},
    "usergroups.list": {"usergroups:read"},
    "views.open": set(),
    "views.push": set(),
    "views.update": set(),
    "views.publish": set(),
    "auth.test": set(),
    "auth.revoke": set(),
    "apps.uninstall": set(),
    "oauth.v2.access": set(),
}
# Called by the alert side (issue 5); the manifest must allow them whether or not that code is in this tree yet.
PLANNED_METHODS = ["conversations.history", "conversations.members", "chat.postMessage", "chat.update",
                   "chat.getPermalink", "users.info"]
# Granular bot scopes Slack accepts in a manifest (docs.slack.dev/reference/scopes?token_types=Bot), the subset
# a product like this could plausibly ask for; anything else in app.yaml is a typo.
KNOWN_BOT_SCOPES = {
    "app_mentions:read", "channels:history", "channels:join", "channels:manage", "channels:read", "chat:write",
    "chat:write.customize", "chat:write.public", "commands", "groups:history", "groups:read", "groups:write",
    "files:read", "files:write", "im:history", "im:read", "im:write", "links:read", "links:write", "metadata.message:read", "mpim:history",
    "mpim:read", "mpim:write", "reactions:read", "reactions:write", "team:read", "users.profile:read",
    "users:read", "users:read.email", "usergroups:read",
}
EVENTS_WITHOUT_SCOPE = {"app_home_opened", "tokens_revoked", "app_uninstalled"}
# Message events are delivered only with the history scope of their conversation type.
EVENT_SCOPES = {"message.im": "im:history"}

CALL = re.compile(r"\.((?:api|apps|auth|bookmarks|chat|conversations|files|oauth|pins|reactions|team|usergroups|users"
                  r"|views)_[A-Za-z0-9_]+)\s*\(")
API_CALL = re.compile(r"api_call\(\s*[\"']([\w.]+)[\"']")


def slack_methods_called() -> dict[str, list[str]]:
    """Web API method -> where the code calls it (slack_sdk spells chat.postMessage as chat_postMessage)."""
    found: dict[str, list[str]] = {}
    for directory in CODE_DIRS:
        for path in sorted((ROOT / directory).rglob("*.py")):
            text = path.read_text(encoding="utf-8")
            for number, line in enumerate(text.splitlines(), 1):
                names = [m.replace("_", ".") for m in CALL.findall(line)] + API_CALL.findall(line)
                if re.search(r"\bsay\(", line):
                    names.append("chat.postMessage")  # Bolt's say()
                for name in names:
                    found.setdefault(name, []).append(f"{path.relative_to(ROOT)}:{number}")
    return found


@pytest.fixture(scope="module")
def manifest() -> dict:
    return load_manifest()


@pytest.fixture(scope="module")
def slack_app(tmp_path_factory):
    database = tmp_path_factory.mktemp("manifest") / "app.db"
    settings = Settings(_env_file=None, database_url=f"sqlite:///{database}", slack_bot_token="xoxb-test",
                        slack_signing_secret="secret")
    return create_slack_app(build_services(settings), settings)


def test_manifest_is_a_valid_slack_app_manifest(manifest):
    assert manifest_problems(manifest) == []
    info = manifest["display_information"]
    assert 0 < len(info["name"]) <= 35 and len(info.get("description", "")) <= 140
    assert re.fullmatch(r"#[0-9a-fA-F]{3}(?:[0-9a-fA-F]{3})?", info["background_color"])
    features = manifest["features"]
    assert 0 < len(features["bot_user"]["display_name"]) <= 80
    assert features["app_home"]["home_tab_enabled"] is True  # the App Home tab is published
    commands = features["slash_commands"]
    assert 0 < len(commands) <= 50
    for command in commands:
        assert re.fullmatch(r"/[a-z0-9_\-]{1,31}", command["command"])
        assert 0 < len(command["description"]) <= 2000 and len(command.get("usage_hint", "")) <= 1000
        assert command["should_escape"] is True  # the handlers parse <@U…>, <#C…> and <mailto:…>
    scopes = manifest["oauth_config"]["scopes"]["bot"]
    assert len(scopes) == len(set(scopes)) and set(scopes) <= KNOWN_BOT_SCOPES, set(scopes) - KNOWN_BOT_SCOPES
    settings = manifest["settings"]
    assert settings["interactivity"]["is_enabled"] is True
    events = set(settings["event_subscriptions"]["bot_events"])
    assert events - set(EVENT_SCOPES) == EVENTS_WITHOUT_SCOPE
    assert all(EVENT_SCOPES[e] in scopes for e in events & set(EVENT_SCOPES))
    assert settings["socket_mode_enabled"] is False  # the URLs below are used; --socket-mode flips this
    urls = ([c["url"] for c in commands] + [settings["event_subscriptions"]["request_url"],
                                            settings["interactivity"]["request_url"]])
    assert {urlsplit(u).path for u in urls} == {"/slack/events"}
    redirects = manifest["oauth_config"]["redirect_urls"]
    assert [urlsplit(u).path for u in redirects] == ["/slack/oauth_redirect"]
    assert len({urlsplit(u).netloc for u in urls + redirects}) == 1 and all(u.startswith("https://")
                                                                            for u in urls + redirects)


def test_manifest_commands_are_exactly_the_registered_ones(manifest, slack_app):
    declared = {c["command"] for c in manifest["features"]["slash_commands"]}
    assert declared == set(SLASH_COMMANDS)
    registered = set()
    for listener in slack_app._listeners:
        for matcher in getattr(listener, "matchers", []):
            func = getattr(matcher, "func", None)
            if func is not None and func.__qualname__.startswith("command."):
                registered.add(inspect.getclosurevars(func).nonlocals["command"])
    assert registered == declared


def _matches_a_listener(slack_app, body: dict, content_type: str) -> bool:
    raw = urlencode(body) if content_type == "form" else json.dumps(body)
    request = BoltRequest(body=raw, headers={"content-type": "application/x-www-form-urlencoded"
                                              if content_type == "form" else "application/json"})
    return any(listener.matches(req=request, resp=BoltResponse(status=200)) for listener in slack_app._listeners)


def test_every_declared_command_and_event_reaches_a_listener(manifest, slack_app):
    for command in manifest["features"]["slash_commands"]:
        assert _matches_a_listener(slack_app, {"command": command["command"], "text": ""}, "form")
    assert not _matches_a_listener(slack_app, {"command": "/not-ours", "text": ""}, "form")
    for event in manifest["settings"]["event_subscriptions"]["bot_events"]:
        kind, _, channel_type = event.partition(".")  # message.im: a message event in a DM
        body = {"type": "event_callback", "team_id": "T1",
                "event": {"type": kind, "user": "U1", "text": "help", **({"channel_type": channel_type}
                                                                        if channel_type else {})}}
        assert _matches_a_listener(slack_app, body, "json"), event


def test_bot_scopes_cover_every_web_api_method_the_code_calls(manifest):
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    called = slack_methods_called()
    assert {"users.info", "views.publish", "views.open", "conversations.info"} <= set(called)  # the grep works
    unknown = {m: where for m, where in called.items() if m not in METHOD_SCOPES}
    assert not unknown, f"add these methods and their scopes to METHOD_SCOPES: {unknown}"
    missing = {m: sorted(METHOD_SCOPES[m] - scopes) for m in [*called, *PLANNED_METHODS]
               if METHOD_SCOPES[m] - scopes}
    assert not missing, f"app.yaml lacks bot scopes: {missing}"
    assert "commands" in scopes  # slash commands


def test_no_scope_is_requested_without_a_use(manifest):
    used = set().union(*(METHOD_SCOPES[m] for m in [*slack_methods_called(), *PLANNED_METHODS]))
    assert set(manifest["oauth_config"]["scopes"]["bot"]) - used == {"commands"}


def test_every_declared_shortcut_reaches_a_listener(manifest, slack_app):
    from handlers.blocks.ids import CallbackId

    shortcuts = manifest["features"].get("shortcuts") or []
    assert {s["callback_id"] for s in shortcuts} == {CallbackId.SHOW_CONTACT_SHORTCUT.value}
    for shortcut in shortcuts:
        assert shortcut["type"] in ("message", "global") and 0 < len(shortcut["name"]) <= 24
        assert 0 < len(shortcut["description"]) <= 150
        body = {"payload": json.dumps({"type": f"{shortcut['type']}_action" if shortcut["type"] == "message"
                                       else "shortcut", "callback_id": shortcut["callback_id"],
                                       "team": {"id": "T1"}, "user": {"id": "U1"}})}
        assert _matches_a_listener(slack_app, body, "form"), shortcut["callback_id"]


@pytest.mark.parametrize("break_it, problem", [
    (lambda m: m["display_information"].update(name="M" * 36), "display_information.name"),
    (lambda m: m["features"]["slash_commands"][0].update(command="/Gmail"), "not a valid name"),
    (lambda m: m["settings"]["interactivity"].update(request_url="http://mm.example.com/slack/events"),
     "not an https URL"),
    (lambda m: m["oauth_config"].update(redirect_urls=["https://elsewhere.example/slack/oauth_redirect"]),
     "one host"),
    (lambda m: m["oauth_config"]["scopes"]["bot"].append("commands"), "each scope once"),
])
def test_manifest_problems_sees_what_slack_would_refuse(manifest, break_it, problem):
    import copy

    broken = copy.deepcopy(manifest)
    break_it(broken)
    assert any(problem in p for p in manifest_problems(broken)), manifest_problems(broken)


# Slack shows a command's usage hint on one line of the autocomplete menu and cuts off the rest (a 406-character
# hint showed its first ~100 characters, ending mid-word): short, and every word a real subcommand.
USAGE_HINT_LIMIT = 80


def test_gmail_usage_hint_is_short_and_names_real_subcommands(manifest):
    from handlers.commands.gmail import SUBCOMMANDS

    hint = next(c for c in manifest["features"]["slash_commands"] if c["command"] == "/gmail")["usage_hint"]
    assert len(hint) <= USAGE_HINT_LIMIT, len(hint)
    words = [w.strip() for w in hint.split("|")]
    assert words[0] == "connect" and words[-1] == "help"  # where a new user starts, and where the rest is
    assert set(words) <= set(SUBCOMMANDS), set(words) - set(SUBCOMMANDS)
    for command in manifest["features"]["slash_commands"]:
        assert len(command.get("usage_hint", "")) <= USAGE_HINT_LIMIT, command["command"]


def test_the_readme_says_why_each_slack_and_google_scope_is_needed(manifest):
    """A security review asks why each scope is there: the README's tables answer for every one."""
    from gmail.config import GoogleConfig

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = set(re.findall(r"^\| `([a-z.:_]+)`(?: \([a-z]+\))? \| .{20,}\|$", readme, re.MULTILINE))
    slack = set(manifest["oauth_config"]["scopes"]["bot"])
    google = {scope.rsplit("/", 1)[-1] for scope in GoogleConfig.__dataclass_fields__["scopes"].default}
    assert slack | google <= rows, (slack | google) - rows
