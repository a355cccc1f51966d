"""Controls of the App Home tab: each applies one change, then the tab is published again with the outcome."""
from __future__ import annotations

from typing import Callable

from slack_bolt import App
from slack_sdk import WebClient

from bot.services import Services
from crm_store.errors import DomainError, InvalidInput
from crm_store.identity import require_mail_integration
from crm_store.mailboxes import mailbox_of
from crm_store.models import AccountStatus, Sharing, SharingDepth
from handlers import changes, dedupe
from handlers.actions.setup import setup_view
from handlers.blocks.ids import ActionId
from handlers.blocks.setup import connect_modal
from handlers.context import SlackRequest
from handlers.home.tab import publish_home
from handlers.middleware import ack_at_once, once


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


def _open_connect(request: SlackRequest, body: dict) -> str | None:
    _, _, _, consent = request.services.require_gmail()
    with request.scope() as (session, actor):
        account = mailbox_of(session, require_mail_integration(session, actor))
        address = account.email_address if account else None
        revoked = account is not None and account.status != AccountStatus.CONNECTED
    url = consent.authorization_url(request.team_id, request.user_id, login_hint=request.identity().email)
    request.client.views_open(trigger_id=body["trigger_id"], view=connect_modal(url, address, revoked))
    return None


def _open_settings(request: SlackRequest, body: dict) -> str | None:
    request.client.views_open(trigger_id=body["trigger_id"], view=setup_view(request, {"home": True}))
    return None


def _disconnect(request: SlackRequest, body: dict) -> str | None:
    view = body.get("view") or {}
    if not dedupe.claim(request.services.engine, f"home-disconnect:{view.get('id')}:{view.get('hash')}"):
        return None
    return changes.disconnect_own_mailbox(request, _chosen(body))


CHANGES: dict[ActionId, Callable[[SlackRequest, dict], str | None]] = {
    ActionId.HOME_CONNECT: _open_connect,
    ActionId.HOME_SETTINGS: _open_settings,
    ActionId.HOME_DISCONNECT: _disconnect,
    ActionId.HOME_MAGNET: lambda request, body: changes.change_magnet(request, _state(_chosen(body))),
    ActionId.HOME_LABELS: lambda request, body: changes.change_labels(request, _state(_chosen(body))),
    ActionId.HOME_SHARING: lambda request, body: changes.change_sharing(request, _enum(Sharing, _chosen(body)), None),
    ActionId.HOME_DEPTH: lambda request, body: changes.change_sharing(request, None,
                                                                     _enum(SharingDepth, _chosen(body))),
    ActionId.HOME_ALERTS_DM: lambda request, body: changes.change_alert_destination(request, None),
}
# These open a modal and leave the tab as it is (unless they fail).
OPENS_MODAL = {ActionId.HOME_CONNECT, ActionId.HOME_SETTINGS}


def register(app: App, services: Services) -> None:
    def listener_for(action_id: ActionId):
        change = CHANGES[action_id]

        def home_control(body: dict, client: WebClient):
            request = SlackRequest.of(services, body, client)
            try:
                notice = change(request, body)
            except DomainError as refusal:
                notice = str(refusal)
            else:
                if action_id in OPENS_MODAL:
                    return
            publish_home(request, notice)

        home_control.__name__ = f"home_{action_id.value}"
        return home_control

    for action_id in CHANGES:
        app.action(action_id.value, middleware=[ack_at_once])(once(services)(listener_for(action_id)))
