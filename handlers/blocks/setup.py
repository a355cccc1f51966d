"""The setup modal after "Connected as x@y" (SPEC F1): sharing, depth, MailMagnet and labels in one form."""
from __future__ import annotations

from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    CheckboxesElement,
    ContextBlock,
    InputBlock,
    MarkdownTextObject,
    Option,
    RadioButtonsElement,
    SectionBlock,
)
from slack_sdk.models.views import View

from usecases.values import Sharing, SharingDepth, SharingPolicy
from handlers.blocks.commands import Reply
from handlers.blocks.ids import (
    FEATURE_LABELS,
    FEATURE_MAGNET,
    SETUP_ACTION,
    ActionId,
    CallbackId,
    SetupField,
)
from handlers.blocks.wording import (
    DEPTH_HELP,
    DEPTH_TITLES,
    POLICY_TITLES,
    SHARING_HELP,
    SHARING_TITLES,
    escape,
    on_off,
    sharing_line,
)

SHARING_OPTIONS = {s.value: Option(value=s.value, label=SHARING_TITLES[s.value], description=SHARING_HELP[s.value])
                   for s in Sharing}
DEPTH_OPTIONS = {d.value: Option(value=d.value, label=DEPTH_TITLES[d.value], description=DEPTH_HELP[d.value])
                 for d in SharingDepth}
FEATURE_OPTIONS = {
    FEATURE_MAGNET: Option(value=FEATURE_MAGNET, label="MailMagnet alerts",
                           description="A message in Slack when a CRM contact writes to you"),
    FEATURE_LABELS: Option(value=FEATURE_LABELS, label="Label your email",
                           description="File customer mail under Deals Closing This Month / Open Deals / Customers "
                                       "(needs MailMagnet)"),
}


def setup_modal(*, address: str, policy: str, sharing: str, depth: str, magnet: bool, labels: bool,
                private_metadata: str = "") -> dict:
    blocks: list = [SectionBlock(text=MarkdownTextObject(
        text=f"Settings for *{escape(address)}*. You can change them later with `/gmail` or in the App Home."))]
    if policy == SharingPolicy.CHOICE.value:
        blocks.append(InputBlock(
            block_id=SetupField.SHARING.value, label="Who may see these emails",
            element=RadioButtonsElement(action_id=SETUP_ACTION, options=list(SHARING_OPTIONS.values()),
                                        initial_option=SHARING_OPTIONS.get(sharing)),
        ))
    else:
        blocks.append(SectionBlock(text=MarkdownTextObject(
            text=f"*Who may see these emails*\nYour organisation set *{POLICY_TITLES.get(policy, policy)}* for "
                 f"everyone: {SHARING_HELP.get(policy, '')}.")))
    if policy != SharingPolicy.PRIVATE.value:
        blocks.append(InputBlock(
            block_id=SetupField.DEPTH.value, label="What colleagues see of a shared email",
            hint="Email bodies are never shown to anyone but you.",
            element=RadioButtonsElement(action_id=SETUP_ACTION, options=list(DEPTH_OPTIONS.values()),
                                        initial_option=DEPTH_OPTIONS.get(depth)),
        ))
    chosen = [FEATURE_OPTIONS[key] for key, on in ((FEATURE_MAGNET, magnet), (FEATURE_LABELS, labels)) if on]
    blocks.append(InputBlock(
        block_id=SetupField.FEATURES.value, label="MailMagnet", optional=True,
        element=CheckboxesElement(action_id=SETUP_ACTION, options=list(FEATURE_OPTIONS.values()),
                                  initial_options=chosen or None),
    ))
    return View(type="modal", callback_id=CallbackId.SETUP_MODAL.value, title="MailMagnet setup",
                submit="Save", close="Cancel", blocks=blocks, private_metadata=private_metadata).to_dict()


def settings_saved(*, address: str, sharing: str, depth: str, magnet: bool, labels: bool) -> Reply:
    text = (f":white_check_mark: *Connected as {escape(address)}*\nSettings saved — sharing: "
            f"{sharing_line(sharing, depth)}; MailMagnet alerts: {on_off(magnet).lower()}; "
            f"labels: {on_off(labels).lower()}.")
    blocks = [
        SectionBlock(text=MarkdownTextObject(text=text)),
        ActionsBlock(block_id="gmail_settings_saved", elements=[
            ButtonElement(text="Change settings", action_id=ActionId.SETUP_OPEN.value, value=address),
        ]),
        ContextBlock(elements=[MarkdownTextObject(text="`/gmail status` shows everything; `/gmail help` lists "
                                                       "the commands.")]),
    ]
    return f"Connected as {escape(address)}: settings saved", [b.to_dict() for b in blocks]


def connect_modal(url: str, address: str | None, revoked: bool) -> dict:
    if revoked and address:
        intro = (f"Google no longer lets MailMagnet read *{escape(address)}*. Authenticate again to reconnect; "
                 "your settings are kept.")
    else:
        intro = ("Connect your Gmail to MailMagnet. You'll sign in on Google's own page; MailMagnet never sees "
                 "your password, and stores only message ids, senders and dates — never subjects or bodies.")
    blocks = [
        SectionBlock(text=MarkdownTextObject(text=intro)),
        ActionsBlock(block_id="gmail_connect", elements=[
            ButtonElement(text="Authenticate", action_id=ActionId.CONNECT_AUTHENTICATE.value, url=url,
                          style="primary"),
        ]),
        ContextBlock(elements=[MarkdownTextObject(text="The link works once, for 10 minutes.")]),
    ]
    return View(type="modal", callback_id=CallbackId.CONNECT_MODAL.value, title="Connect Gmail", close="Close",
                blocks=blocks).to_dict()
