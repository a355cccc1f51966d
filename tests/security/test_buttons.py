"""Forged button values on every action id (SPEC §5: every identifier inside a button value is checked against what
the clicker may act on; a forged value gets a refusal, never data), through signed interaction payloads.

The attackers who can click: a colleague (a CRM user of the rep's workspace, with a mailbox of their own), a guest
(a Slack user of the workspace with no CRM user) and an admin of the organisation's other workspace. Each replays
every button the rep was shown — its genuine value, on the rep's own message or view — and edited values naming
other ids. Each click gets its specific refusal or the clicker's own, harmless answer; nothing the attacker is sent
holds anything of the rep's mail; and nothing of the rep's mailbox changes.

The action ids come from handlers/blocks/ids.py and the alert's: a new action id without a row here fails the test.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass

import pytest
from slack_sdk import WebClient
from sqlmodel import select

from crm_store.db import session_scope
from crm_store.models import AuditLog, GmailAccount, MutedContact
from handlers.blocks.ids import AlertAction
from handlers.blocks.ids import ActionId
from testsupport.stack import OTHER_TEAM, start_org_stack
from tests.support.slack import shown_text
from tests.support.contact_world import buttons, contact_command, ephemeral_of
from testsupport.stack import REP, REP_GMAIL, TEAM

CONTACTS = ("email,first_name,last_name,company,owner_email,external_id\n"
            "jane@acme.example,Jane,Doe,Acme,owner@crm.example,C1\n"
            "john@doe-industries.example,John,Doe,Doe Industries,,C2\n")
DEALS = ("name,contact_external_id,stage,closing_date,amount,external_id\n"
         "Acme renewal,C1,Negotiation,2099-01-15,12500,D1\n")
SECRETS = ("SECRET-SUBJECT", "SECRET-SNIPPET", "SECRET-BODY")  # in every email of the rep's; Private mailbox
COLLEAGUE, COLLEAGUE_GMAIL = "U300COL", "colleague@gmail.example"
GUEST = "U404GST"
FAR_ADMIN = "U2ADMIN"
ATTACKERS = {"colleague": (TEAM, COLLEAGUE), "guest": (TEAM, GUEST), "other workspace's admin": (OTHER_TEAM, FAR_ADMIN)}

ALERT_ACTIONS = {action.value for action in AlertAction}
EVERY_ACTION_ID = {a.value for a in ActionId} | ALERT_ACTIONS


@pytest.fixture
def world(database_url):
    stack = start_org_stack(database_url, scheduler=True, start_scheduler=False)
    stack.import_crm(CONTACTS, DEALS)
    stack.add_rep()
    stack.add_rep(COLLEAGUE, "colleague@crm.example", gmail=COLLEAGUE_GMAIL)
    stack.slack.add_user(TEAM, GUEST, email="guest@partner.example")
    stack.slack.add_user(OTHER_TEAM, FAR_ADMIN, email="it@initech.example", is_admin=True)
    stack.connect(COLLEAGUE, COLLEAGUE_GMAIL)
    stack.connect_with_magnet()
    for n in range(12):  # more than a page: /contact offers "Show more"
        stack.mail("Jane Doe <jane@acme.example>", f"SECRET-SUBJECT {n}",
                   body=f"SECRET-SNIPPET {n} " + "words " * 60 + "SECRET-BODY")
    stack.run("sync")
    yield stack
    stack.stop()


@dataclass(frozen=True)
class Button:
    """A button as the rep was shown it: where it is (a message or a view) and its value."""

    message: dict | None = None
    view: dict | None = None
    value: str | None = None


def harvest(stack) -> dict[str, Button]:
    """Every kind of button the rep is shown, with its genuine value."""
    found: dict[str, Button] = {}

    def take(container: dict, *, view: bool = False):
        for block in container.get("blocks") or []:
            for element in (block.get("elements") or []) + [block.get("accessory") or {}]:
                if isinstance(element, dict) and element.get("action_id") and element["action_id"] not in found:
                    found[element["action_id"]] = Button(None if view else container, container if view else None,
                                                         element.get("value"))

    dm = stack.slack.dm_channel(TEAM, REP)
    for message in stack.slack.messages(dm):  # the alerts, and "Connected as" with Change settings
        take({**message, "channel": dm})
    post = contact_command(stack, "jane@acme.example")
    listing = ephemeral_of(stack, REP, post)
    take(listing)
    open_value = buttons(listing, ActionId.EMAIL_OPEN.value)[0]["value"]
    before = len(stack.slack.view_calls)
    stack.driver.block_action(REP, ActionId.EMAIL_OPEN.value, value=open_value, message=listing)
    detail = stack.slack.wait_for(lambda: [c for c in stack.slack.view_calls[before:] if c["method"] == "views.update"],
                                  timeout=20)[-1]["view"]
    take(detail, view=True)
    take(ephemeral_of(stack, REP, contact_command(stack, "doe")))  # two contacts: pick one
    response = stack.driver.slash_command(REP, "/gmail", "disconnect")
    take(ephemeral_of(stack, REP, stack.slack.wait_for(
        lambda: stack.slack.response_url_posts(response.response_url))[-1]))
    response = stack.driver.slash_command(REP, "/gmail", "connect")  # already connected: offers to reconnect
    take(ephemeral_of(stack, REP, stack.slack.wait_for(
        lambda: [p for p in stack.slack.response_url_posts(response.response_url) if p.get("blocks")])[-1]))
    stack.driver.app_home_opened(REP)
    home = stack.slack.wait_for(lambda: stack.slack.views_published.get(REP))[-1]
    take(home, view=True)
    # Buttons the rep is not shown right now: as they would be (the value names the rep's mailbox, or a page).
    forged = {ActionId.RECONNECT.value: Button(message={**stack.slack.dms(REP)[0], "channel": dm}, value=REP_GMAIL),
              ActionId.HOME_CONNECT.value: Button(view=home, value="connect"),
              ActionId.HOME_DEPTH.value: Button(view=home, value="full"),
              ActionId.HOME_ALERTS_DM.value: Button(view=home, value="dm"),
              ActionId.AUDIT_OLDER.value: Button(message={**stack.slack.dms(REP)[0], "channel": dm},
                                                 value=json.dumps({"u": None, "s": None, "b": 10 ** 9}))}
    return {**forged, **found}


# What each attacker reads after a forged click: (where the answer goes — the click's response_url, a modal, their
# App Home — and words it must hold). NOTHING: a link button, which Slack opens in the browser; its click is only
# acknowledged.
NOTHING = ("nothing", "")
# A click in one of the rep's views (App Home, a modal) names the rep's workspace as the app's (the view's
# app_installed_team_id), and Bolt answers there: Slack then refuses to show a user of another workspace anything.
SLACK_REFUSED = ("slack refused", "")
CRM_USERS_ONLY = "Contact details are shown to CRM users only"
NOT_LINKED = "is not linked to a CRM user. Ask "
ONLY_THE_OWNER = f"Only <@{REP}> can do that for their mailbox."
OWN_CARD = "No emails with this contact in the mailboxes you may see."  # a CRM user's card: none of the rep's mail
OWN_HOME = COLLEAGUE_GMAIL  # the colleague's own App Home, their own mailbox
# Values that name no right: a contact to pick (any CRM user may see any contact's card), the audit's paging cursor.
NOT_RIGHTS = (ActionId.CONTACT_PICK, ActionId.AUDIT_OLDER)
# The refusals a forged id can get, whichever id was edited (each a domain error's message).
REFUSALS = (CRM_USERS_ONLY, NOT_LINKED, ONLY_THE_OWNER, "That mailbox is no longer connected to MailMagnet",
            "That button is from an older MailMagnet message", "sharing settings do not let you see that email",
            "Only MailMagnet admins and Slack workspace admins can do that.")

EXPECTED: dict[str, dict[str, tuple[str, str]]] = {
    AlertAction.VIEW_CONTACT: {"colleague": ("respond", OWN_CARD), "guest": ("respond", CRM_USERS_ONLY),
                               "other workspace's admin": ("respond", CRM_USERS_ONLY)},
    AlertAction.REPLY: {who: ("modal", ONLY_THE_OWNER) for who in ATTACKERS},
    AlertAction.MUTE: {who: ("respond", ONLY_THE_OWNER) for who in ATTACKERS},
    AlertAction.OPEN_GMAIL: {who: NOTHING for who in ATTACKERS},
    ActionId.EMAIL_OPEN: {"colleague": ("modal", f"<@{REP}>'s sharing settings do not let you see that email."),
                          "guest": ("modal", CRM_USERS_ONLY), "other workspace's admin": ("modal", CRM_USERS_ONLY)},
    ActionId.EMAIL_REPLY: {"colleague": ("modal", ONLY_THE_OWNER), "guest": ("modal", ONLY_THE_OWNER),
                           "other workspace's admin": SLACK_REFUSED},
    ActionId.EMAIL_OPEN_GMAIL: {who: NOTHING for who in ATTACKERS},
    ActionId.CONTACT_MORE: {"colleague": ("respond", "That button is from an older MailMagnet message"),
                            "guest": ("respond", CRM_USERS_ONLY),
                            "other workspace's admin": ("respond", CRM_USERS_ONLY)},
    ActionId.CONTACT_PICK: {"colleague": ("respond", OWN_CARD), "guest": ("respond", CRM_USERS_ONLY),
                            "other workspace's admin": ("respond", CRM_USERS_ONLY)},
    ActionId.AUDIT_OLDER: {"colleague": ("respond", "Only MailMagnet admins and Slack workspace admins can do that."),
                           "guest": ("respond", "Only MailMagnet admins and Slack workspace admins can do that."),
                           "other workspace's admin": ("respond", "No views recorded.")},  # their workspace: none
    ActionId.CONNECT_AUTHENTICATE: {who: NOTHING for who in ATTACKERS},
    ActionId.RECONNECT: {"colleague": ("respond", f"You're connected as *{COLLEAGUE_GMAIL}*"),  # their own link
                         "guest": ("respond", NOT_LINKED), "other workspace's admin": ("respond", NOT_LINKED)},
    ActionId.SETUP_OPEN: {"colleague": ("modal", f"Settings for *{COLLEAGUE_GMAIL}*"), "guest": ("respond", NOT_LINKED),
                          "other workspace's admin": ("respond", NOT_LINKED)},
    ActionId.DISCONNECT_CONFIRM: {"colleague": ("respond", "That mailbox is no longer connected: there is nothing to "
                                                           "disconnect."),
                                  "guest": ("respond", NOT_LINKED), "other workspace's admin": ("respond", NOT_LINKED)},
    ActionId.DISCONNECT_CANCEL: {who: ("respond", "Disconnect cancelled") for who in ATTACKERS},
    ActionId.HOME_CONNECT: {"colleague": ("modal", "Connect your Gmail to MailMagnet"), "guest": ("home", NOT_LINKED),
                            "other workspace's admin": SLACK_REFUSED},
    ActionId.HOME_SETTINGS: {"colleague": ("modal", f"Settings for *{COLLEAGUE_GMAIL}*"), "guest": ("home", NOT_LINKED),
                             "other workspace's admin": SLACK_REFUSED},
    ActionId.HOME_DISCONNECT: {"colleague": ("home", "That mailbox is no longer connected: there is nothing to "
                                                     "disconnect."),
                               "guest": ("home", NOT_LINKED), "other workspace's admin": SLACK_REFUSED},
    **{home: {"colleague": ("home", OWN_HOME), "guest": ("home", NOT_LINKED), "other workspace's admin": SLACK_REFUSED}
       for home in (ActionId.HOME_MAGNET, ActionId.HOME_LABELS, ActionId.HOME_SHARING, ActionId.HOME_DEPTH,
                    ActionId.HOME_ALERTS_DM)},
}


def test_every_action_id_has_a_row_for_every_attacker():
    assert {str(a) for a in EXPECTED} == EVERY_ACTION_ID
    assert all(set(row) == set(ATTACKERS) for row in EXPECTED.values())


def rep_state(stack) -> dict:
    """Everything of the rep's a click could change."""
    with session_scope(stack.engine) as session:
        account = session.exec(select(GmailAccount).where(GmailAccount.email_address == REP_GMAIL)).one()
        return {
            "mailbox": (account.status, account.magnet_enabled, account.labels_enabled, account.sharing,
                        account.sharing_depth, account.alert_channel),
            "mutes": len(session.exec(select(MutedContact).where(MutedContact.account_id == account.id)).all()),
            "audited views of the rep's mail": len(session.exec(select(AuditLog).where(
                AuditLog.account_id == account.id)).all()),
            "sent": len(stack.gmail.sent_messages(REP_GMAIL)),
            "grant": stack.gmail.granted_scopes(REP_GMAIL, stack.settings.google_client_id) is not None,
        }


def what_they_were_sent(stack, user: str, click, posts_before: int, views_before: int, calls_before: int) -> str:
    """Everything Slack received for this attacker since the click: its response_url, views, messages."""
    url = click.payload.get("response_url")  # none for a click in a view
    answers = stack.slack.response_url_posts(url) if url else []
    assert len(stack.slack.response_url_posts()) - posts_before == len(answers)  # nothing to anyone else's URL
    read = [shown_text(p) for p in answers]
    read += [shown_text(c["view"]) for c in stack.slack.view_calls[views_before:] if c["user_id"] == user]
    read += [json.dumps(c.params, ensure_ascii=False) for c in stack.slack.calls[calls_before:]]
    return "\n".join(read)


def shown_in(stack, where: str, user: str, click, views_before: int) -> str:
    """What reached the attacker in one place: the click's response_url, a modal, or their App Home."""
    if where == "respond":
        return "\n".join(shown_text(p) for p in stack.slack.response_url_posts(click.payload["response_url"]))
    kind = {"modal": "modal", "home": "home"}[where]
    return "\n".join(shown_text(c["view"]) for c in stack.slack.view_calls[views_before:]
                     if c["user_id"] == user and c["view"].get("type") == kind)


def modals_as_when_clicking(stack, team: str, user: str, *, in_a_modal: bool) -> None:
    """The attacker's modals as they would be for this click: closed, or one open when the click is in a modal
    (a click from a modal pushes onto it, and Slack holds three at most)."""
    stack.slack.apply_view_submission_ack(team, user, "", {"response_action": "clear"})
    if in_a_modal:
        client = WebClient(base_url=stack.slack.api_url, token=stack.slack.team(team).bot_token)
        client.views_open(trigger_id=stack.slack.issue_trigger_id(team, user), view={
            "type": "modal", "title": {"type": "plain_text", "text": "Their own"},
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "a modal of the attacker's"}}]})


def answer_with(expected: tuple[str, ...], read, what, timeout: float = 20.0) -> str:
    """What the attacker was sent, once it holds one of the `expected` words."""
    deadline = time.monotonic() + timeout
    while not any(words in (text := read()) for words in expected):
        if time.monotonic() >= deadline:
            raise AssertionError(f"no answer with one of {expected} to {what}; it was sent: {text}")
        time.sleep(0.02)
    return text


@pytest.mark.parametrize("attacker", list(ATTACKERS))
def test_a_forged_value_on_every_button_gets_a_refusal_and_nothing_of_the_reps_mail(world, attacker):
    stack = world
    team, user = ATTACKERS[attacker]
    shown = harvest(stack)
    assert set(shown) == EVERY_ACTION_ID  # every button was found on what the rep was shown (or forged alike)
    before = rep_state(stack)
    for action_id in sorted(EVERY_ACTION_ID):
        button = shown[action_id]
        where, words = EXPECTED[action_id][attacker]
        values = [button.value]
        if button.value and button.value.startswith("{"):  # a value naming ids: also with each id edited
            genuine = json.loads(button.value)
            values += [json.dumps({**genuine, key: (value + 1 if isinstance(value, int) else f"{value}x")})
                       for key, value in genuine.items() if isinstance(value, (int, str))]
        for value in values:
            if value == button.value:
                accepted = (words,)
            elif action_id in NOT_RIGHTS:
                accepted = (words, *REFUSALS)
            else:  # an edited id gets a refusal of that id (which one depends on the id)
                accepted = REFUSALS
            modals_as_when_clicking(stack, team, user, in_a_modal=(button.view or {}).get("type") == "modal")
            posts, views, calls = len(stack.slack.response_url_posts()), len(stack.slack.view_calls), \
                len(stack.slack.calls)
            place = {"view": button.view} if button.view else {"message": button.message}
            click = stack.driver_for(team).block_action(user, action_id, value=value, **place)
            assert click.status == 200, (action_id, attacker)
            if where == "nothing":
                # A link button's listener only acknowledges: the 200 is the end of it.
                read = what_they_were_sent(stack, user, click, posts, views, calls)
                assert not [c for c in stack.slack.calls[calls:] if c.method != "auth.test"], (action_id, attacker)
            elif where == "slack refused":
                # Handled: the server's answer reached Slack, which refused to show it to this user.
                stack.slack.wait_for(lambda: [c for c in stack.slack.calls[calls:] if c.method.startswith("views.")
                                              and not (c.response or {}).get("ok", True)], timeout=20)
                read = what_they_were_sent(stack, user, click, posts, views, calls)
                assert not [c for c in stack.slack.view_calls[views:] if c["user_id"] == user], (action_id, attacker)
            else:
                # Handled: the attacker was answered, with the words expected (a refusal, or their own things).
                read = answer_with(accepted,
                                   lambda: what_they_were_sent(stack, user, click, posts, views, calls),
                                   (action_id, attacker, value))
                if value == button.value:
                    assert words in shown_in(stack, where, user, click, views), (action_id, attacker, where)
            assert "something went wrong" not in read, (action_id, attacker, value, read)
            for secret in SECRETS:
                assert secret not in read, (action_id, attacker, value, read)
            assert rep_state(stack) == before, (action_id, attacker, value)


def test_someone_elses_click_does_not_use_up_the_reps_disconnect_confirmation(world):
    """A confirmation counts once (a double click disconnects once) — once for the rep. An attacker who replays the
    rep's Disconnect confirmation, in the message or in the App Home, is refused, and the rep's own click still
    disconnects (it used to be swallowed without a word: a refusal must never damage the one it protects)."""
    stack = world
    response = stack.driver.slash_command(REP, "/gmail", "disconnect")
    prompt = ephemeral_of(stack, REP, stack.slack.wait_for(
        lambda: stack.slack.response_url_posts(response.response_url))[-1])
    token = buttons(prompt, ActionId.DISCONNECT_CONFIRM.value)[0]["value"]
    stolen = stack.driver.block_action(COLLEAGUE, ActionId.DISCONNECT_CONFIRM.value, value=token, message=prompt)
    refusal = stack.slack.wait_for(lambda: stack.slack.response_url_posts(stolen.payload["response_url"]))
    assert "there is nothing to disconnect" in shown_text(refusal[-1])

    mine = stack.driver.block_action(REP, ActionId.DISCONNECT_CONFIRM.value, value=token, message=prompt)
    done = stack.slack.wait_for(lambda: stack.slack.response_url_posts(mine.payload["response_url"]), timeout=20)
    assert "Disconnected" in shown_text(done[-1]) or REP_GMAIL in shown_text(done[-1])
    with session_scope(stack.engine) as session:
        assert [a.email_address for a in session.exec(select(GmailAccount)).all()] == [COLLEAGUE_GMAIL]


def test_someone_elses_click_does_not_use_up_the_reps_app_home_disconnect(world):
    stack = world
    stack.driver.app_home_opened(REP)
    home = stack.slack.wait_for(lambda: stack.slack.views_published.get(REP))[-1]
    token = buttons(home, ActionId.HOME_DISCONNECT.value)[0]["value"]
    published = len(stack.slack.views_published.get(COLLEAGUE, []))
    stack.driver.block_action(COLLEAGUE, ActionId.HOME_DISCONNECT.value, value=token, view=home)
    refusal = stack.slack.wait_for(lambda: stack.slack.views_published.get(COLLEAGUE, [])[published:])[-1]
    assert "there is nothing to disconnect" in shown_text(refusal)

    published = len(stack.slack.views_published[REP])
    stack.driver.block_action(REP, ActionId.HOME_DISCONNECT.value, value=token, view=home)
    after = stack.slack.wait_for(lambda: stack.slack.views_published[REP][published:], timeout=20)[-1]
    assert "Gmail is not connected" in shown_text(after)
    with session_scope(stack.engine) as session:
        assert [a.email_address for a in session.exec(select(GmailAccount)).all()] == [COLLEAGUE_GMAIL]


def test_a_guest_clicking_a_channel_alerts_buttons_gets_refusals_and_nothing_of_the_mail(world):
    """A guest in a channel where an alert is posted clicks its genuine buttons: no CRM details, no mail."""
    stack = world
    bot = stack.slack.team(TEAM).bot_user_id
    stack.slack.add_channel(TEAM, "C0DEALS", "deals", members=[REP, GUEST, bot])
    stack.update_mailbox(sharing="public", sharing_depth="metadata", alert_channel="C0DEALS")
    stack.mail("Jane Doe <jane@acme.example>", "SECRET-SUBJECT in the channel", body="SECRET-SNIPPET SECRET-BODY")
    stack.run("sync")
    alert = next(m for m in reversed(stack.slack.messages("C0DEALS"))
                 if (m.get("metadata") or {}).get("event_type") == "mailmagnet_alert")
    assert not any(secret in json.dumps(alert) for secret in SECRETS)  # metadata depth: no subject
    before = rep_state(stack)
    for action_id, words in ((AlertAction.VIEW_CONTACT, CRM_USERS_ONLY), (AlertAction.MUTE, ONLY_THE_OWNER),
                             (AlertAction.REPLY, ONLY_THE_OWNER)):
        modals_as_when_clicking(stack, TEAM, GUEST, in_a_modal=False)
        posts, views, calls = len(stack.slack.response_url_posts()), len(stack.slack.view_calls), len(stack.slack.calls)
        click = stack.driver.block_action(GUEST, action_id, channel_id="C0DEALS",
                                          message={**alert, "channel": "C0DEALS"})
        assert click.status == 200
        read = answer_with((words,), lambda: what_they_were_sent(stack, GUEST, click, posts, views, calls),
                           (action_id, "guest in the channel"))
        assert "Acme renewal" not in read and "12500" not in read  # no CRM details either
        assert not any(secret in read for secret in SECRETS), (action_id, read)
    assert rep_state(stack) == before
