"""What a failed Slack Web API call tells us about what Slack did, and which calls are safe to send twice.

A `chat.postMessage` whose answer is a 5xx, a timeout or a connection cut after sending may have been carried out:
Slack stored the message and the answer was lost on the way back (networks and load balancers do this). Sending
it again blindly posts the message twice. Only a call that Slack surely did not take (429, a connection refused)
may be sent again as it is; after an uncertain failure, a post is sent again only once the channel's history shows
it is not there (bot/notifier.py). Reads and calls that set a state may be repeated whatever happened.
"""
from __future__ import annotations

import re
import socket
from enum import Enum
from urllib.error import URLError


class Failure(Enum):
    NOT_TAKEN = "not_taken"  # Slack did not take it (429, never reached Slack): send it again, after Retry-After
    UNCERTAIN = "uncertain"  # it may have been carried out: look before sending again
    REFUSED = "refused"  # a clear answer (channel_not_found, not_in_channel, invalid_auth…): the same again


# Slack's documented errors that say the request was not processed, or may have been partly ("It's possible some
# aspect of the operation succeeded before the error was raised").
_NOT_TAKEN_ERRORS = frozenset({"ratelimited", "request_timeout"})  # request_timeout: the POST body arrived truncated
_UNCERTAIN_ERRORS = frozenset({"internal_error", "fatal_error", "service_unavailable"})

# Calls whose repetition changes nothing: they read, or they set a state (the same call twice leaves the same
# state), or a second one is refused rather than done twice (a trigger id is exchanged once), or a duplicate is
# harmless next to a lost answer (an ephemeral answer only its asker sees). Anything else creates something each
# time it is carried out, chat.postMessage first of all.
_SAFE_TO_REPEAT = frozenset({
    "conversations.open", "conversations.join", "views.publish", "views.update", "views.open", "views.push",
    "chat.update", "chat.postEphemeral", "auth.revoke", "apps.connections.open",
})
_READ = re.compile(r"\.(info|list|history|replies|members|test|lookupByEmail|getPermalink)$")


def method_of(url: str) -> str:
    """The Web API method of a request URL (".../api/chat.postMessage?x=y" -> "chat.postMessage")."""
    return url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]


def safe_to_repeat(method: str) -> bool:
    return method in _SAFE_TO_REPEAT or bool(_READ.search(method))


def never_sent(error: BaseException) -> bool:
    """The connection was refused or the name did not resolve: nothing reached Slack."""
    reason = error.reason if isinstance(error, URLError) else error
    return isinstance(reason, (ConnectionRefusedError, socket.gaierror))


def failure_of(*, status: int | None = None, error: str | None = None,
               exception: BaseException | None = None) -> Failure | None:
    """What a call's outcome says: an HTTP status with Slack's `error` code, or the exception raised when no answer
    came (a timeout, a reset, a closed connection). None: it succeeded."""
    if status is None:
        if exception is None:
            return None
        return Failure.NOT_TAKEN if never_sent(exception) else Failure.UNCERTAIN
    if status == 429 or error in _NOT_TAKEN_ERRORS:
        return Failure.NOT_TAKEN
    if status >= 500 or error in _UNCERTAIN_ERRORS:
        return Failure.UNCERTAIN
    if status >= 400 or error:
        return Failure.REFUSED
    return None
