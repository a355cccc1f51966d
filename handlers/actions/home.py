"""Controls of the App Home tab: each applies one change, then the tab is published again with the outcome."""
from __future__ import annotations

from typing import Callable

from slack_sdk import WebClient

from handlers.blocks.refusals import refusal_text
from usecases import idempotency
from handlers.actions.setup import setup_view
from handlers.blocks import settings as setting_words
from handlers.blocks.commands import disconnected_notice
from handlers.blocks.ids import ActionId
from handlers.blocks.setup import connect_modal
from handlers.home.tab import publish_home
from usecases import mailbox as mailbox_use_cases
from usecases import settings as setting_use_cases
from usecases.values import DomainError, InvalidInput, Services, Sharing, SharingDepth, SlackActorRef

Change = Callable[[Services, SlackActorRef, WebClient, dict], "str | None"]


def _chosen(body: dict) -> str:
    action = body["actions"][0]
    return str(action.get("value") or (action.get("selected_option") or {}).get("value") or "")


def _state(value: str) -> bool:
    if value not in ("on", "off"):
        raise InvalidInput("That button is out of date; the App Home now shows the current settings.")
    return value == "on"


def _enum(kind, value: str):
    try:
        return kind(value)
    except ValueError:
        raise InvalidInput("That choice is out of date; the App Home now shows the current settings.") from None


def _open_connect(services: Services, who: SlackActorRef, client: WebClient, body: dict) -> str | None:
    link = mailbox_use_cases.start_connect(services, who)
    client.views_open(trigger_id=body["trigger_id"], view=connect_modal(link.url, link.connected_address,
                                                                        link.revoked))
    return None


def _open_settings(services: Services, who: SlackActorRef, client: WebClient, body: dict) -> str | None:
    client.views_open(trigger_id=body["trigger_id"], view=setup_view(services, who, {"home": True}))
    return None


def _disconnect(services: Services, who: SlackActorRef, client: WebClient, body: dict) -> str | None:
    view = body.get("view") or {}
    # Once per home view and clicker: someone else's click on this view (refused) cannot use up the rep's.
    if not idempotency.claim(services, f"home-disconnect:{who.team_id}:{who.user_id}:{view.get('id')}:{view.get('hash')}"):
        return None
    return disconnected_notice(mailbox_use_cases.disconnect_own(services, who, _chosen(body)))


CHANGES: dict[ActionId, Change] = {
    ActionId.HOME_CONNECT: _open_connect,
    ActionId.HOME_SETTINGS: _open_settings,
    ActionId.HOME_DISCONNECT: _disconnect,
    ActionId.HOME_MAGNET: lambda s, who, c, body: setting_words.magnet_changed(
        setting_use_cases.change_magnet(s, who, _state(_chosen(body)))),
    ActionId.HOME_LABELS: lambda s, who, c, body: setting_words.labels_changed(
        setting_use_cases.change_labels(s, who, _state(_chosen(body)))),
    ActionId.HOME_SHARING: lambda s, who, c, body: setting_words.sharing_changed(
        setting_use_cases.change_sharing(s, who, _enum(Sharing, _chosen(body)), None)),
    ActionId.HOME_DEPTH: lambda s, who, c, body: setting_words.sharing_changed(
        setting_use_cases.change_sharing(s, who, None, _enum(SharingDepth, _chosen(body)))),
    ActionId.HOME_ALERTS_DM: lambda s, who, c, body: setting_words.alert_destination_changed(
        setting_use_cases.change_alert_destination(s, who, None)),
}
# These open a modal and leave the tab as it is (unless they fail).
OPENS_MODAL = {ActionId.HOME_CONNECT, ActionId.HOME_SETTINGS}


def home_control(body: dict, client: WebClient, actor: SlackActorRef, services: Services):
    """Every App Home control (CHANGES names them): apply the change, then publish the tab with its outcome."""
    action_id = ActionId(body["actions"][0]["action_id"])
    try:
        notice = CHANGES[action_id](services, actor, client, body)
    except DomainError as refusal:
        notice = refusal_text(refusal)
    else:
        if action_id in OPENS_MODAL:
            return
    publish_home(services, actor, client, notice)
