"""F1 after the consent: the "Connected as" DM's button opens one modal for sharing, depth, MailMagnet and labels."""
from __future__ import annotations

from handlers.blocks.ids import (
    FEATURE_LABELS,
    FEATURE_MAGNET,
    SETUP_ACTION,
    ActionId,
    CallbackId,
    SetupField,
)
from tests.support.slack import account_of, shown_text
from testsupport.stack import REP, REP_GMAIL, authorize_url_in


def form(sharing: str | None, depth: str | None, features: list[str]) -> dict:
    values = {SetupField.FEATURES.value: {SETUP_ACTION: {
        "type": "checkboxes", "selected_options": [{"value": f} for f in features]}}}
    for block, value in ((SetupField.SHARING, sharing), (SetupField.DEPTH, depth)):
        if value:
            values[block.value] = {SETUP_ACTION: {"type": "radio_buttons", "selected_option": {"value": value}}}
    return values


def open_setup(stack) -> tuple[dict, dict]:
    dm = stack.slack.dms(REP)[-1]
    assert f"Connected as {REP_GMAIL}" in dm["text"]
    response = stack.driver.block_action(REP, ActionId.SETUP_OPEN.value, message=dm)
    assert response.status == 200
    modal = stack.slack.wait_for(lambda: stack.slack.modal_stack(REP))[-1]
    assert modal["callback_id"] == CallbackId.SETUP_MODAL.value
    return dm, modal


def test_setup_modal_round_trip(stack, connected, jobs):
    dm, modal = open_setup(stack)
    inputs = {block.get("block_id") for block in modal["blocks"]}
    assert {SetupField.SHARING.value, SetupField.DEPTH.value, SetupField.FEATURES.value} <= inputs

    # Labels without MailMagnet: the modal stays open with the error under the checkboxes; nothing changes.
    response = stack.driver.view_submission(REP, modal, values=form("public", "subject", [FEATURE_LABELS]))
    assert response.json["response_action"] == "errors"
    assert "MailMagnet" in response.json["errors"][SetupField.FEATURES.value]
    assert stack.slack.modal_stack(REP)
    account = account_of(stack)
    assert (account.sharing, account.labels_enabled, account.setup_done) == ("private", False, False)

    response = stack.driver.view_submission(REP, modal, values=form("public", "subject",
                                                                     [FEATURE_MAGNET, FEATURE_LABELS]))
    assert response.status == 200 and not response.body
    assert stack.slack.modal_stack(REP) == []
    account = account_of(stack)
    assert (account.sharing, account.sharing_depth) == ("public", "subject")
    assert account.magnet_enabled and account.labels_enabled and account.setup_done
    assert jobs.asked("request_sync") == [(account.id,)]
    # The DM now shows what was chosen instead of the bare button.
    updated = stack.slack.wait_for(lambda: [m for m in stack.slack.dms(REP)
                                            if m["ts"] == dm["ts"] and "Settings saved" in shown_text(m)])
    assert "Public" in shown_text(updated[0]) and "labels: on" in shown_text(updated[0])

    # Opened again, the modal starts from the saved settings.
    _, modal = open_setup(stack)
    features = next(b for b in modal["blocks"] if b.get("block_id") == SetupField.FEATURES.value)
    assert {o["value"] for o in features["element"]["initial_options"]} == {FEATURE_MAGNET, FEATURE_LABELS}
    response = stack.driver.view_submission(REP, modal, values=form("custom", "metadata", []))
    assert response.status == 200
    account = account_of(stack)
    assert (account.sharing, account.magnet_enabled, account.labels_enabled) == ("custom", False, False)


def test_setup_modal_under_a_fixed_policy_asks_only_for_depth(stack, connected):
    stack.add_rep("U900ADM", "boss@crm.example", gmail=None, admin=True)
    stack.driver.slash_command("U900ADM", "/gmail", "admin policy public")
    stack.slack.wait_for(lambda: [p for p in stack.slack.response_url_posts() if "for everyone" in (p["text"] or "")])
    _, modal = open_setup(stack)
    inputs = {block.get("block_id") for block in modal["blocks"]}
    assert SetupField.SHARING.value not in inputs and "set *Public* for everyone" in shown_text(modal)
    stack.driver.view_submission(REP, modal, values=form(None, "full", [FEATURE_MAGNET]))
    account = account_of(stack)
    assert (account.sharing_depth, account.magnet_enabled) == ("full", True)


def test_reconnect_button_in_the_revoked_access_dm_starts_the_connect_flow(stack, connected):
    stack.services.notifier.ask_to_reconnect(account_of(stack), "invalid_grant")
    dm = stack.slack.wait_for(lambda: [m for m in stack.slack.dms(REP) if "lost access" in m["text"]])[-1]
    response = stack.driver.block_action(REP, ActionId.RECONNECT.value, message=dm)
    post = stack.slack.wait_for(lambda: stack.slack.response_url_posts(response.response_url))[-1]
    assert post["response_type"] == "ephemeral"
    status, body = stack.follow_consent(authorize_url_in(post))
    assert status == 200 and REP_GMAIL in body
