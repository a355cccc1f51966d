"""What a user reads when a use case refuses: the sentences of domain errors that carry facts, not words."""
from __future__ import annotations

from typing import Callable

from handlers.blocks import settings as setting_words
from usecases.settings import AlertChannelRefused, NotAContact, NotACrmUserYet
from usecases.values import DomainError, WrongWorkspace

OTHER_ORGANISATION = ("This MailMagnet serves another organisation's Slack workspace, so it does nothing here. "
                      "Ask your Slack admin which apps your workspace uses.")
GENERIC_REFUSAL = "MailMagnet cannot do that."

# A refusal raised without a sentence of its own is told by its kind's.
SENTENCES: dict[type[DomainError], Callable[..., str]] = {
    WrongWorkspace: lambda _: OTHER_ORGANISATION,
    AlertChannelRefused: setting_words.alert_channel_refused,
    NotAContact: setting_words.not_a_contact,
    NotACrmUserYet: setting_words.not_a_crm_user_yet,
}


def refusal_text(error: DomainError) -> str:
    text = str(error)
    if text:
        return text
    for kind in type(error).__mro__:
        if kind in SENTENCES:
            return SENTENCES[kind](error)
    return GENERIC_REFUSAL
