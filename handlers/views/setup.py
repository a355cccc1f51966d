"""Submission of the setup modal: sharing, depth, MailMagnet and labels applied together, or field errors."""
from __future__ import annotations

import json
import logging

from slack_bolt import Ack
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from handlers.blocks.refusals import refusal_text
from handlers.blocks.ids import FEATURE_LABELS, FEATURE_MAGNET, SETUP_ACTION, SetupField
from handlers.blocks.setup import settings_saved
from handlers.home.tab import publish_home
from usecases import settings as setting_use_cases
from usecases.values import DomainError, PolicyFixed, Services, Sharing, SharingDepth, SlackActorRef

log = logging.getLogger(__name__)


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


def setup_submitted(ack: Ack, view: dict, client: WebClient, actor: SlackActorRef, services: Services):
    values = (view.get("state") or {}).get("values") or {}
    features = _features(values)
    try:
        sharing = Sharing(_selected(values, SetupField.SHARING)) if _selected(values, SetupField.SHARING) else None
        depth = SharingDepth(_selected(values, SetupField.DEPTH)) if _selected(values, SetupField.DEPTH) else None
    except ValueError:
        ack(response_action="errors", errors={SetupField.FEATURES.value: "Unknown choice; please pick again."})
        return
    try:
        saved = setting_use_cases.save_setup(services, actor, sharing=sharing, depth=depth,
                                             magnet=FEATURE_MAGNET in features, labels=FEATURE_LABELS in features)
    except DomainError as refusal:
        ack(response_action="errors", errors={_field_for(refusal, values): refusal_text(refusal)[:150]})
        return
    ack()
    origin = _metadata(view)
    if origin.get("home"):
        publish_home(services, actor, client, "Settings saved.")
    elif origin.get("channel") and origin.get("ts"):
        text, blocks = settings_saved(address=saved.address, sharing=saved.sharing, depth=saved.depth,
                                      magnet=saved.magnet, labels=saved.labels)
        try:
            client.chat_update(channel=origin["channel"], ts=origin["ts"], text=text, blocks=blocks)
        except SlackApiError as error:
            log.info("could not update the setup message: %s", error.response.get("error"))
