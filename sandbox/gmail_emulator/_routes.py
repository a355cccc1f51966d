"""The Gmail methods this emulator serves, as the discovery document names them.

Paths, HTTP verbs and scopes are copied from ``gmail.v1.json`` (the test suite
checks them against the document shipped with google-api-python-client);
``units`` are Google's published quota costs per call.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

FULL = "https://mail.google.com/"
_G = "https://www.googleapis.com/auth/gmail."

READ = (FULL, _G + "metadata", _G + "modify", _G + "readonly")
READ_MESSAGE = READ + (
    _G + "addons.current.message.action",
    _G + "addons.current.message.metadata",
    _G + "addons.current.message.readonly",
)
MODIFY = (FULL, _G + "modify")
LABELS_READ = (FULL, _G + "labels", _G + "metadata", _G + "modify", _G + "readonly")
LABELS_WRITE = (FULL, _G + "labels", _G + "modify")
INSERT = (FULL, _G + "insert", _G + "modify")
SEND = (FULL, _G + "addons.current.action.compose", _G + "compose", _G + "modify", _G + "send")
PROFILE = (FULL, _G + "compose", _G + "metadata", _G + "modify", _G + "readonly")
METADATA_SCOPE = _G + "metadata"


@dataclass(frozen=True)
class Route:
    method_id: str
    http_method: str
    path: str  # relative to the API root, as in the discovery document
    units: int
    scopes: tuple[str, ...]
    upload_path: str | None = None
    pattern: re.Pattern = field(init=False, compare=False, repr=False)
    upload_pattern: re.Pattern | None = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "pattern", _compile(self.path))
        object.__setattr__(
            self, "upload_pattern", _compile(self.upload_path.lstrip("/")) if self.upload_path else None
        )


def _compile(template: str) -> re.Pattern:
    regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
    return re.compile("^" + regex + "$")


_U = "gmail/v1/users/{userId}"

ROUTES: tuple[Route, ...] = (
    Route("gmail.users.getProfile", "GET", f"{_U}/profile", 1, PROFILE),
    Route("gmail.users.watch", "POST", f"{_U}/watch", 100, READ),
    Route("gmail.users.stop", "POST", f"{_U}/stop", 50, READ),
    Route("gmail.users.history.list", "GET", f"{_U}/history", 2, READ),
    Route("gmail.users.labels.list", "GET", f"{_U}/labels", 1, LABELS_READ),
    Route("gmail.users.labels.create", "POST", f"{_U}/labels", 5, LABELS_WRITE),
    Route("gmail.users.labels.get", "GET", f"{_U}/labels/{{id}}", 1, LABELS_READ),
    Route("gmail.users.labels.patch", "PATCH", f"{_U}/labels/{{id}}", 5, LABELS_WRITE),
    Route("gmail.users.labels.update", "PUT", f"{_U}/labels/{{id}}", 5, LABELS_WRITE),
    Route("gmail.users.labels.delete", "DELETE", f"{_U}/labels/{{id}}", 5, LABELS_WRITE),
    Route("gmail.users.messages.list", "GET", f"{_U}/messages", 5, READ),
    Route(
        "gmail.users.messages.insert", "POST", f"{_U}/messages", 25, INSERT,
        upload_path="/upload/gmail/v1/users/{userId}/messages",
    ),
    Route(
        "gmail.users.messages.import", "POST", f"{_U}/messages/import", 25, INSERT,
        upload_path="/upload/gmail/v1/users/{userId}/messages/import",
    ),
    Route(
        "gmail.users.messages.send", "POST", f"{_U}/messages/send", 100, SEND,
        upload_path="/upload/gmail/v1/users/{userId}/messages/send",
    ),
    Route("gmail.users.messages.batchModify", "POST", f"{_U}/messages/batchModify", 50, MODIFY),
    Route("gmail.users.messages.batchDelete", "POST", f"{_U}/messages/batchDelete", 50, (FULL,)),
    Route("gmail.users.messages.get", "GET", f"{_U}/messages/{{id}}", 5, READ_MESSAGE),
    Route("gmail.users.messages.delete", "DELETE", f"{_U}/messages/{{id}}", 10, (FULL,)),
    Route("gmail.users.messages.modify", "POST", f"{_U}/messages/{{id}}/modify", 5, MODIFY),
    Route("gmail.users.messages.trash", "POST", f"{_U}/messages/{{id}}/trash", 5, MODIFY),
    Route("gmail.users.messages.untrash", "POST", f"{_U}/messages/{{id}}/untrash", 5, MODIFY),
    Route("gmail.users.threads.list", "GET", f"{_U}/threads", 10, READ),
    Route("gmail.users.threads.get", "GET", f"{_U}/threads/{{id}}", 10, READ_MESSAGE),
    Route("gmail.users.threads.modify", "POST", f"{_U}/threads/{{id}}/modify", 10, MODIFY),
    Route("gmail.users.threads.trash", "POST", f"{_U}/threads/{{id}}/trash", 10, MODIFY),
    Route("gmail.users.threads.untrash", "POST", f"{_U}/threads/{{id}}/untrash", 10, MODIFY),
)

ROUTES_BY_ID = {route.method_id: route for route in ROUTES}

# Published costs of Gmail methods this emulator does not serve, kept so that
# quota figures stay comparable if one is added later.
OTHER_UNITS = {
    "gmail.users.drafts.create": 10,
    "gmail.users.drafts.delete": 10,
    "gmail.users.drafts.get": 5,
    "gmail.users.drafts.list": 5,
    "gmail.users.drafts.send": 100,
    "gmail.users.drafts.update": 15,
    "gmail.users.messages.attachments.get": 5,
    "gmail.users.threads.delete": 20,
}


def match(http_method: str, path: str) -> tuple[Route, dict[str, str], bool] | None:
    """Find the route for ``path`` (no leading slash); the flag says "media upload"."""
    for route in ROUTES:
        if route.http_method != http_method:
            continue
        found = route.pattern.match(path)
        if found:
            return route, found.groupdict(), False
        if route.upload_pattern is not None:
            found = route.upload_pattern.match(path)
            if found:
                return route, found.groupdict(), True
    return None
