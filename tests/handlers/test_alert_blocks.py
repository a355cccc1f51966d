"""An alert's Block Kit JSON is what slack_sdk's models render for it, whatever it shows (handlers/blocks/alerts.py
renders each shape once through the models and fills the alert's texts in)."""
from __future__ import annotations

import itertools
from datetime import datetime, timezone

import pytest
from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import ActionsBlock, ButtonElement, ConfirmObject, MarkdownTextObject, SectionBlock

from gmail.notifier import AlertView, Hidden
from handlers.blocks.alerts import _alert_models, _alert_texts, alert_blocks

RECEIVED = datetime(2026, 12, 2, 10, 0, tzinfo=timezone.utc)


def view(**changes) -> AlertView:
    values = dict(account_id=1, gmail_id="18c2f0a1", mailbox_address="rep@x.example", rep_user_id="U1",
                  contact_id=3, contact_name="Jane <Doe>", contact_email="jane@acme.example", company="Acme & Co",
                  category_label="Open Deals", deal_context="Open deal “Renewal” · Negotiation", sender="Jane",
                  received_at=RECEIVED, gmail_url="https://mail.google.com/mail/?authuser=rep@x.example#all/18c2f0a1",
                  subject="Hello *there*", snippet="Some text & more")
    return AlertView(**(values | changes))


def test_a_typical_alert_is_the_models_own_json():
    reference = '{"a": 1, "g": "18c2f0a1", "c": 3}'
    expected = [
        SectionBlock(text=MarkdownTextObject(
            text=":envelope_with_arrow: *New email from Jane &lt;Doe&gt; (Acme &amp; Co)* to <@U1> · "
                 f"<!date^{int(RECEIVED.timestamp())}^{{date_short_pretty}} at {{time}}|2026-12-02 10:00 UTC>")),
        SectionBlock(fields=[MarkdownTextObject(text=text) for text in (
            "*Contact*\nJane &lt;Doe&gt;\njane@acme.example", "*Company*\nAcme &amp; Co",
            "*Deals*\nOpen deal “Renewal” · Negotiation", "*Label*\nOpen Deals")]),
        SectionBlock(text=MarkdownTextObject(text="*Subject:* Hello *there*\n>Some text &amp; more")),
        ActionsBlock(block_id="alert_actions_18c2f0a1", elements=[
            ButtonElement(text="View contact", action_id="alert_view_contact", value=reference),
            ButtonElement(text="Reply", action_id="alert_reply", value=reference, style="primary"),
            ButtonElement(text="Open in Gmail", action_id="alert_open_gmail", url=view().gmail_url),
            ButtonElement(text="Mute contact", action_id="alert_mute_contact", value=reference, style="danger",
                          confirm=ConfirmObject(title="Mute this contact?", confirm="Mute", deny="Cancel",
                                                text="No more MailMagnet alerts for Jane &lt;Doe&gt; from this "
                                                     "mailbox. Undo with `/gmail unmute`.")),
        ]),
    ]
    assert alert_blocks(view()) == [block.to_dict() for block in expected]


@pytest.mark.parametrize("is_lead,crm,subject,snippet,hidden,email,company", list(itertools.product(
    (False, True), (False, True), (None, "", "Re: *x*"), (None, "", "y" * 600), (None, Hidden.SUBJECT, Hidden.PREVIEW),
    (None, "", "j@x.example"), (None, "", "Acme"))))
def test_every_shape_renders_as_the_models_render_it(is_lead, crm, subject, snippet, hidden, email, company):
    alert = view(is_lead=is_lead and crm, crm_details=crm, lead_status="Hot" if is_lead else None,
                 owner="Olive" if is_lead else None, subject=subject, snippet=snippet, hidden=hidden,
                 contact_email=email, company=company)
    assert alert_blocks(alert) == [block.to_dict() for block in _alert_models(_alert_texts(alert))]


def test_what_slack_sdk_refuses_is_refused_as_before():
    with pytest.raises(SlackObjectFormationError):
        alert_blocks(view(contact_name="J" * 400))  # the Mute confirmation's text: 300 characters at most
    with pytest.raises(SlackObjectFormationError):
        alert_blocks(view(gmail_id="g" * 300))  # a block id: 255 characters at most


def test_any_texts_render_as_the_models_render_them():
    """Review of issue 17: the texts are put in place of NUL-started placeholders after the models rendered the
    shape; whatever the CRM and the mail hold (NULs, placeholders' own names, mrkdwn, entities, empty, past the
    limits slack_sdk checks), the JSON is the models' own, or the models' own error."""
    from hypothesis import HealthCheck, given, settings, strategies as st

    piece = st.sampled_from(["\x00", "\x00header\x00", "\x00url\x00", "<!channel>", "&amp;", "*b*", "_i_", "`c`",
                             "\n", "\u2028", "é", "", " ", "x" * 299, "y" * 2999, "{\"a\": 1}"])
    text = st.lists(piece, max_size=4).map("".join)
    maybe = st.none() | text

    @settings(max_examples=300, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))
    @given(name=text, email=maybe, company=maybe, label=maybe, context=maybe, subject=maybe, snippet=maybe,
           status=maybe, owner=maybe, lead=st.booleans(), crm=st.booleans(),
           hidden=st.sampled_from([None, Hidden.SUBJECT, Hidden.PREVIEW]), gmail_id=st.sampled_from(
               ["18c2f0a1", "\x00block_id\x00", "g" * 240, "g" * 256]), url=st.sampled_from(
               ["https://mail.google.com/mail/", "", "\x00", "h" * 3001]), rep=st.sampled_from(["U1", "", "\x00"]))
    def renders_alike(name, email, company, label, context, subject, snippet, status, owner, lead, crm, hidden,
                      gmail_id, url, rep):
        alert = view(contact_name=name, contact_email=email, company=company, category_label=label,
                     deal_context=context, subject=subject, snippet=snippet, lead_status=status, owner=owner,
                     is_lead=lead and crm, crm_details=crm, hidden=hidden, gmail_id=gmail_id, gmail_url=url,
                     rep_user_id=rep)
        try:
            expected = [block.to_dict() for block in _alert_models(_alert_texts(alert))]
        except SlackObjectFormationError as error:
            with pytest.raises(SlackObjectFormationError) as raised:
                alert_blocks(alert)
            assert str(raised.value) == str(error)
            return
        assert alert_blocks(alert) == expected

    renders_alike()
