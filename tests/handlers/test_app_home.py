"""The App Home tab: published on open from what the database says, and its controls change settings."""
from __future__ import annotations

from handlers.blocks.ids import ActionId, CallbackId
from tests.support.slack import account_of, shown_text
from testsupport.stack import REP, REP_GMAIL, authorize_url_in


def open_home(stack) -> dict:
    before = len(stack.slack.views_published.get(REP, []))
    assert stack.driver.app_home_opened(REP).status == 200
    return stack.slack.wait_for(lambda: stack.slack.views_published.get(REP, [])[before:])[-1]


def click(stack, action_id: ActionId, value: str | None = None) -> dict:
    """Use a control of the current home view; returns the view published after it."""
    before = len(stack.slack.views_published.get(REP, []))
    response = stack.driver.block_action(REP, action_id.value, value=value, view=stack.slack.home_view(REP))
    assert response.status == 200
    return stack.slack.wait_for(lambda: stack.slack.views_published.get(REP, [])[before:])[-1]


def action_ids(view: dict) -> set[str]:
    found = set()
    for block in view["blocks"]:
        for element in block.get("elements", []) + [block.get("accessory") or {}]:
            if isinstance(element, dict) and element.get("action_id"):
                found.add(element["action_id"])
    return found


def test_home_without_permission_explains_who_grants_it(stack):
    stack.add_rep(mail_integration=False)
    view = open_home(stack)
    assert "Mail Integration permission" in shown_text(view)
    assert not action_ids(view)


def test_home_connects_gmail_through_a_modal(stack, rep):
    view = open_home(stack)
    assert "Gmail is not connected" in shown_text(view) and ActionId.HOME_CONNECT.value in action_ids(view)
    stack.driver.block_action(REP, ActionId.HOME_CONNECT.value, view=view)
    modal = stack.slack.wait_for(lambda: stack.slack.modal_stack(REP))[-1]
    assert modal["callback_id"] == CallbackId.CONNECT_MODAL.value
    status, body = stack.follow_consent(authorize_url_in(modal))
    assert status == 200 and REP_GMAIL in body
    assert REP_GMAIL in shown_text(open_home(stack))


def test_home_reflects_the_database_and_its_controls_change_it(stack, connected, sales_channel, jobs):
    stack.update_mailbox(alert_channel=sales_channel, last_sync_error="Gmail answered 503")
    view = open_home(stack)
    text = shown_text(view)
    assert REP_GMAIL in text and "Gmail answered 503" in text and f"<#{sales_channel}>" in text
    assert "*MailMagnet alerts*\nOff" in text and "Private" in text
    assert ActionId.HOME_LABELS.value not in action_ids(view)  # labels need MailMagnet first

    view = click(stack, ActionId.HOME_MAGNET)
    assert account_of(stack).magnet_enabled
    assert "MailMagnet is *on*" in shown_text(view) and "*MailMagnet alerts*\nOn" in shown_text(view)
    assert jobs.asked("request_sync") == [(account_of(stack).id,)]

    view = click(stack, ActionId.HOME_LABELS)
    assert account_of(stack).labels_enabled and "*Labels*\nOn" in shown_text(view)

    click(stack, ActionId.HOME_SHARING, value="public")
    view = click(stack, ActionId.HOME_DEPTH, value="full")
    account = account_of(stack)
    assert (account.sharing, account.sharing_depth) == ("public", "full")
    assert "Public, full" in shown_text(view)

    view = click(stack, ActionId.HOME_ALERTS_DM)
    assert account_of(stack).alert_channel is None and "your DM" in shown_text(view)

    view = click(stack, ActionId.HOME_MAGNET)  # off: labels go off with it
    account = account_of(stack)
    assert not account.magnet_enabled and not account.labels_enabled


def test_home_refusal_is_shown_in_the_tab(stack, connected):
    open_home(stack)
    # A stale "Turn labels on" (MailMagnet is off): F4 refuses and the tab says why.
    view = click(stack, ActionId.HOME_LABELS, value="on")
    assert "MailMagnet must be on first" in shown_text(view)
    assert not account_of(stack).labels_enabled


def test_home_disconnect(stack, connected, jobs):
    view = open_home(stack)
    button = next(e for b in view["blocks"] for e in b.get("elements", [])
                  if e.get("action_id") == ActionId.HOME_DISCONNECT.value)
    assert button["confirm"]["confirm"]["text"] == "Disconnect"  # Slack asks before sending the click
    view = click(stack, ActionId.HOME_DISCONNECT)
    assert account_of(stack) is None
    assert "Disconnected" in shown_text(view) and ActionId.HOME_CONNECT.value in action_ids(view)


def test_home_opens_the_setup_modal(stack, connected):
    open_home(stack)
    stack.driver.block_action(REP, ActionId.HOME_SETTINGS.value, view=stack.slack.home_view(REP))
    modal = stack.slack.wait_for(lambda: stack.slack.modal_stack(REP))[-1]
    assert modal["callback_id"] == CallbackId.SETUP_MODAL.value
    before = len(stack.slack.views_published[REP])
    stack.driver.view_submission(REP, modal, values={"setup_features": {"choice": {
        "type": "checkboxes", "selected_options": [{"value": "magnet"}]}}})
    view = stack.slack.wait_for(lambda: stack.slack.views_published[REP][before:])[-1]
    assert "Settings saved" in shown_text(view) and account_of(stack).magnet_enabled
