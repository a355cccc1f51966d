"""Submission of the setup modal: sharing, depth, MailMagnet and labels applied together, or field errors."""
from __future__ import annotations

import json
import logging

from slack_bolt import Ack, App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.services import Services
from crm_store.errors import DomainError, LabelsNeedMagnet, PolicyFixed
from crm_store.identity import require_mail_integration
from crm_store.mailboxes import (
    connected_mailbox_of,
    set_labels,
    set_magnet,
    set_sharing,
)
from crm_store.models import Sharing, SharingDepth
from crm_store.sharing import effective_sharing, org_policy
from handlers.blocks.ids import (
    FEATURE_LABELS,
    FEATURE_MAGNET,
    SETUP_ACTION,
    CallbackId,
    SetupField,
)
from handlers.blocks.setup import settings_saved
from handlers.context import SlackRequest
from handlers.home.tab import publish_home
from handlers.middleware import once

log = logging.getLogger(__name__)

LABELS_NEED_MAGNET = ("Labels file the mail MailMagnet picks up: tick MailMagnet alerts too, or untick "
                      "Label your email.")


def _selected(values: dict, block: SetupField) -> str | None:
    option = (values.get(block.value, {}).get(SETUP_ACTION) or {}).get("selected_option") or {}
    return option.get("value")


def _features(values: dict) -> set[str]:
    options = (values.get(SetupField.FEATURES.value, {}).get(SETUP_ACTION) or {}).get("selected_options") or []
    return {o.get("value") for o in options}


def _field_for(error: DomainError, values: dict) -> str:
    """The input an error is shown under; it must be one of the modal's inputs."""
    if isinstance(error, PolicyFixed) and SetupField.SHARING.value in values:
        return SetupField.SHARING.value
    return SetupField.FEATURES.value


def _metadata(view: dict) -> dict:
    try:
        data = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def register(app: App, services: Services) -> None:
    @app.view(CallbackId.SETUP_MODAL.value)
    @once(services)
    def setup_submitted(ack: Ack, body: dict, view: dict, client: WebClient):
        values = (view.get("state") or {}).get("values") or {}
        features = _features(values)
        magnet, labels = FEATURE_MAGNET in features, FEATURE_LABELS in features
        if labels and not magnet:  # F4, answered in the form before anything changes
            ack(response_action="errors", errors={SetupField.FEATURES.value: LABELS_NEED_MAGNET})
            return
        request = SlackRequest.of(services, body, client)
        try:
            sharing = Sharing(_selected(values, SetupField.SHARING)) if _selected(values, SetupField.SHARING) else None
            depth = SharingDepth(_selected(values, SetupField.DEPTH)) if _selected(values, SetupField.DEPTH) else None
        except ValueError:
            ack(response_action="errors", errors={SetupField.FEATURES.value: "Unknown choice; please pick again."})
            return
        try:
            with request.scope() as (session, actor):
                account = connected_mailbox_of(session, require_mail_integration(session, actor))
                set_sharing(session, account, sharing, depth)
                changed = set_magnet(session, account, magnet)  # off also switches labels off
                labels_on = set_labels(session, account, labels) and labels
                saved = dict(address=account.email_address,
                             sharing=effective_sharing(org_policy(session, request.team_id), account).value,
                             depth=account.sharing_depth, magnet=account.magnet_enabled,
                             labels=account.labels_enabled)
                account_id = account.id
        except (DomainError, LabelsNeedMagnet) as refusal:
            ack(response_action="errors", errors={_field_for(refusal, values): str(refusal)[:150]})
            return
        ack()
        if "magnet_on" in changed or labels_on:
            request.request_sync(account_id)
        origin = _metadata(view)
        if origin.get("home"):
            publish_home(request, "Settings saved.")
        elif origin.get("channel") and origin.get("ts"):
            text, blocks = settings_saved(**saved)
            try:
                client.chat_update(channel=origin["channel"], ts=origin["ts"], text=text, blocks=blocks)
            except SlackApiError as error:
                log.info("could not update the setup message: %s", error.response.get("error"))
