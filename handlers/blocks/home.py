"""The App Home tab: connection, last sync, errors, and the settings as controls."""
from __future__ import annotations

from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    Option,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from usecases.values import DM_CHANNEL, Sharing, SharingDepth, SharingPolicy
from handlers.blocks.commands import status_extras, status_fields
from handlers.blocks.contact import recent_emails_blocks
from handlers.blocks.ids import ActionId
from handlers.blocks.overview import overview_blocks
from handlers.blocks.refusals import refusal_text
from handlers.blocks.wording import DEPTH_HELP, DEPTH_TITLES, SHARING_TITLES, escape

HOME_SHARING_OPTIONS = {s.value: Option(value=s.value, label=SHARING_TITLES[s.value]) for s in Sharing}
HOME_DEPTH_OPTIONS = {d.value: Option(value=d.value, label=f"{DEPTH_TITLES[d.value]}: {DEPTH_HELP[d.value]}"[:75])
                      for d in SharingDepth}


def _toggle(action: ActionId, label: str, on: bool) -> ButtonElement:
    """A button that sets a definite state (value on/off), so a stale or repeated click cannot flip it back."""
    return ButtonElement(text=f"Turn {label} {'off' if on else 'on'}", action_id=action.value,
                         value="off" if on else "on", style=None if on else "primary")


def home_view(status, notice: str | None = None, recent=None, team=None) -> dict:
    """`recent`: the rep's latest emails from CRM contacts (usecases.contacts.RecentEmails), when known; `team`:
    the admin overview (usecases.overview.TeamOverview) for an admin, shown below their own mailbox."""
    blocks = [b if isinstance(b, dict) else b.to_dict() for b in _own_blocks(status, notice, recent)]
    if team is not None:
        admin = [DividerBlock().to_dict(), *overview_blocks(team, max_sections=20)]
        blocks = blocks[:100 - len(admin)] + admin
    return View(type="home", blocks=blocks[:100]).to_dict()


def _own_blocks(status, notice: str | None, recent) -> list:
    blocks: list = [HeaderBlock(text="MailMagnet")]
    if notice:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=f":information_source: {escape(notice)[:2900]}")))
    if status.refusal:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=refusal_text(status.refusal)[:3000])))
        return blocks
    if not status.has_mailbox:
        return blocks + _not_connected_blocks()
    blocks += _connection_blocks(status)
    blocks += _settings_blocks(status)
    blocks += recent_emails_blocks(recent)
    return blocks


def _not_connected_blocks() -> list:
    return [
        SectionBlock(text=MarkdownTextObject(
            text="*Gmail is not connected.* Connect it to get an alert when a customer writes, file customer "
                 "mail by deal state, and share emails with your team.")),
        ActionsBlock(block_id="home_connect", elements=[
            ButtonElement(text="Connect Gmail", action_id=ActionId.HOME_CONNECT.value, value="connect",
                          style="primary"),
        ]),
    ]


def _connection_blocks(status) -> list:
    """The mailbox's facts, and the buttons to reconnect or disconnect it."""
    blocks: list = [SectionBlock(fields=[MarkdownTextObject(text=f) for f in status_fields(status)])]
    extras = status_extras(status)
    if extras:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=extras)]))
    connection = []
    if not status.connected:
        connection.append(ButtonElement(text="Reconnect Gmail", action_id=ActionId.HOME_CONNECT.value,
                                        value="reconnect", style="primary"))
    connection.append(ButtonElement(
        text="Disconnect", action_id=ActionId.HOME_DISCONNECT.value, value=status.mailbox_token, style="danger",
        confirm=ConfirmObject(
            title="Disconnect Gmail?", confirm="Disconnect", deny="Cancel", style="danger",
            text=f"MailMagnet will revoke its Google access to {escape(status.address)}, delete the stored credentials "
                 "and every stored email record, and stop alerts and labels.")))
    return blocks + [ActionsBlock(block_id="home_connection", elements=connection), DividerBlock()]


def _settings_blocks(status) -> list:
    """The switches and choices a rep changes most, and where to find the rest."""
    blocks: list = [SectionBlock(text=MarkdownTextObject(text="*Settings*"))]
    switches = [_toggle(ActionId.HOME_MAGNET, "MailMagnet", status.magnet)]
    if status.magnet or status.labels:
        switches.append(_toggle(ActionId.HOME_LABELS, "labels", status.labels))
    if status.alert_channel:
        switches.append(ButtonElement(text="Send alerts to my DM", action_id=ActionId.HOME_ALERTS_DM.value,
                                      value=DM_CHANNEL))
    switches.append(ButtonElement(text="All settings…", action_id=ActionId.HOME_SETTINGS.value, value="settings"))
    blocks.append(ActionsBlock(block_id="home_switches", elements=switches))
    if not status.magnet:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(
            text="Labels file the mail MailMagnet picks up: turn MailMagnet on to use them.")]))

    if status.policy == SharingPolicy.CHOICE.value:
        blocks.append(SectionBlock(
            block_id="home_sharing", text=MarkdownTextObject(text="*Who may see your emails*"),
            accessory=StaticSelectElement(action_id=ActionId.HOME_SHARING.value, placeholder="Sharing",
                                          options=list(HOME_SHARING_OPTIONS.values()),
                                          initial_option=HOME_SHARING_OPTIONS.get(status.sharing))))
    if status.sharing != Sharing.PRIVATE.value:
        blocks.append(SectionBlock(
            block_id="home_depth", text=MarkdownTextObject(text="*What colleagues see*"),
            accessory=StaticSelectElement(action_id=ActionId.HOME_DEPTH.value, placeholder="Depth",
                                          options=list(HOME_DEPTH_OPTIONS.values()),
                                          initial_option=HOME_DEPTH_OPTIONS.get(status.depth))))
    blocks.append(ContextBlock(elements=[MarkdownTextObject(
        text="Alerts to a channel: `/gmail alerts #channel` · quiet hours: `/gmail quiet 22:00-07:00` · "
             "digest: `/gmail digest on` · `/gmail help` for everything")]))
    return blocks
