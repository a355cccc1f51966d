"""`make demo` (`python -m testsupport.demo`): the product working on the sample CRM data in testsupport/demo_data,
against the emulators. Dev-only: the runtime wheel ships neither this nor the emulators."""
from __future__ import annotations

import calendar
import csv
import sys
import tempfile
from datetime import date, datetime, timezone
from importlib import resources
from pathlib import Path

from bot.settings import Settings

# The sample deals were written for this month; the demo moves every closing
# date by the same number of months so the categories read the same whenever
# it runs.
SAMPLE_MONTH = date(2026, 11, 1)

DEMO_SENDERS = [
    '"Jane Doe" <Jane.Doe@ACME.example>',
    "jane@acme-holdings.example",
    "Bob Smith <bob.smith@globex.example>",
    "=?UTF-8?Q?Chlo=C3=A9_Martin?= <chloe.martin@initech.example>",
    "dave.jones@umbrella.example",
    "erin.lee@hooli.example",
    "grace.kim@wayne.example",
    "henry.ford@tyrell.example",
    "stranger@unknown.example",
]


def add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def shifted_deals_csv(source: Path, target: Path, today: date) -> None:
    months = (today.year - SAMPLE_MONTH.year) * 12 + today.month - SAMPLE_MONTH.month
    with source.open(newline="", encoding="utf-8") as src, target.open("w", newline="", encoding="utf-8") as dst:
        reader = csv.DictReader(src)
        writer = csv.DictWriter(dst, fieldnames=reader.fieldnames)
        writer.writeheader()
        for row in reader:
            if row.get("closing_date"):
                row["closing_date"] = add_months(date.fromisoformat(row["closing_date"]), months).isoformat()
            writer.writerow(row)


def demo_data_dir() -> Path:
    return Path(str(resources.files("testsupport") / "demo_data"))


def run_demo(settings: Settings) -> int:
    show_categories(settings)
    run_bot_end_to_end(settings)
    return 0


def show_categories(settings: Settings) -> None:
    from bot.wiring import category_config
    from crm_store.csv_import import import_contacts, import_deals
    from crm_store.db import create_db_engine, session_scope, upgrade_database
    from crm_store.explain import explain_sender
    from handlers.blocks.why import explanation_text

    tz = settings.default_timezone
    now = datetime.now(timezone.utc)
    rules, labels = category_config(settings)
    with tempfile.TemporaryDirectory(prefix="mailmagnet-demo-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'demo.db'}"
        upgrade_database(url)
        engine = create_db_engine(url)
        data = demo_data_dir()
        deals = Path(tmp) / "deals.csv"
        shifted_deals_csv(data / "deals.csv", deals, now.date())
        print("== MailMagnet demo: CRM categories on sample data ==")
        for kind, importer, path in (("contacts", import_contacts, data / "contacts.csv"),
                                     ("deals", import_deals, deals)):
            report = importer(engine, path)
            print(f"imported {kind}: {report.created} created")
        print(f"\nAs of {now:%Y-%m-%d} ({tz}), an email from ... is filed under:\n")
        with session_scope(engine) as session:
            for sender in DEMO_SENDERS:
                explanation = explain_sender(session, sender, at=now, tz=tz, rules=rules, labels=labels)
                print(f"  {sender}\n    -> {explanation.label or '(no label)'}\n       {explanation_text(explanation)}\n")
        engine.dispose()


def _readable(post: dict) -> str:
    """What a person reads in Slack: the blocks' texts, else the fallback text."""
    lines = []
    for block in post.get("blocks") or []:
        for item in [block.get("text")] + list(block.get("fields") or []) + list(block.get("elements") or []):
            if isinstance(item, dict) and item.get("type") in ("mrkdwn", "plain_text") and item.get("text"):
                lines.append(item["text"])
    return "\n".join(lines) or post.get("text", "")


def _command(stack, user_id: str, text: str) -> str:
    return _readable(stack.command(user_id, text))


def _indent(text: str, prefix: str = "      ") -> str:
    return "\n".join(prefix + line for line in text.strip().splitlines()[:24])


def run_bot_end_to_end(settings: Settings) -> None:
    """`mailmagnet serve` for real, against the built-in Gmail and Slack emulators."""
    from testsupport.stack import REP, authorize_url_in, start_stack

    alice_gmail = "alice@gmail.example"

    print("== MailMagnet demo: the bot end to end, against the built-in Gmail and Slack emulators ==")
    data = demo_data_dir()
    with tempfile.TemporaryDirectory(prefix="mailmagnet-demo-") as tmp:
        stack = start_stack(f"sqlite:///{Path(tmp) / 'bot.db'}", scheduler=True, start_scheduler=False)
        try:
            print(f"Gmail emulator {stack.gmail.url}, Slack emulator {stack.slack.url}, "
                  f"MailMagnet serving on {stack.server.url}")
            deals = Path(tmp) / "deals.csv"
            shifted_deals_csv(data / "deals.csv", deals, datetime.now(timezone.utc).date())
            stack.import_crm((data / "contacts.csv").read_text(encoding="utf-8"),
                             deals.read_text(encoding="utf-8"))
            stack.add_rep("U0ADMIN", "bruno@mailmagnet.example", gmail=None, slack_admin=True)
            stack.add_rep(REP, "alice@mailmagnet.example", gmail=alice_gmail, mail_integration=False)
            print("\n1. Alice has no Mail Integration permission yet:")
            print(_indent(_command(stack, REP, "connect")))
            print(f"\n2. Bruno (Slack admin): /gmail admin grant <@{REP}>")
            print(_indent(_command(stack, "U0ADMIN", f"admin grant <@{REP}|alice>")))

            print("\n3. Alice: /gmail connect -> Authenticate -> Google consent -> callback")
            status, _body = stack.follow_consent(authorize_url_in(stack.command(REP, "connect")), alice_gmail)
            dm = stack.slack.wait_for(lambda: stack.slack.dms(REP), timeout=15)[-1]
            print(f"      callback page: HTTP {status}; DM from MailMagnet: {dm['text']}")
            stack.driver.message_im(REP, "help")
            helped = stack.slack.wait_for(lambda: [m for m in stack.slack.dms(REP)
                                                   if m.get("bot_id") and "commands work" in m.get("text", "")],
                                          timeout=15)[-1]
            print(f"      Alice types \"help\" in that DM; MailMagnet answers: {helped['text'].splitlines()[0]}")

            print("\n4. Alice: /gmail magnet on, then /gmail labels on")
            print(_indent(_command(stack, REP, "magnet on")))
            print(_indent(_command(stack, REP, "labels on")))
            stack.run("sync")

            print("\n5. Mail arrives in Alice's Gmail:")
            senders = ['"Jane Doe" <jane.doe@acme.example>', "Bob Smith <bob.smith@globex.example>",
                       "=?UTF-8?Q?Chlo=C3=A9_Martin?= <chloe.martin@initech.example>",
                       "dave.jones@umbrella.example", "newsletter@unknown.example"]
            ids = {}
            for sender in senders:
                ids[sender] = stack.mail(sender, f"Hello from {sender.split('<')[-1].rstrip('>')}",
                                         gmail=alice_gmail)
                print(f"      from {sender}")
            stack.run("sync")
            print("\n6. MailMagnet alerts in Alice's DM (one per email from a CRM contact):")
            for message in stack.slack.dms(REP):
                if (message.get("metadata") or {}).get("event_type") == "mailmagnet_alert":
                    fields = next(b for b in message["blocks"] if b.get("fields"))["fields"]
                    deal = fields[2]["text"].split("\n", 1)[1]
                    print(f"      {message['text']} — {deal}")

            stack.run("labels")
            print("\n7. After the label run, in Gmail:")
            ours = set(stack.services.labels.__dict__.values())
            for sender, gmail_id in ids.items():
                names = stack.gmail.label_names(alice_gmail, gmail_id)
                where = ", ".join(sorted(n for n in names if n in ours)) or "left in the Inbox"
                print(f"      {sender.split('<')[-1].rstrip('>'):36} -> {where}")

            print("\n8. Alice: /gmail why dave.jones@umbrella.example")
            print(_indent(_command(stack, REP, "why dave.jones@umbrella.example")))
            print("\n9. Alice: /gmail status")
            print(_indent(_command(stack, REP, "status")))
            show_contact_view_and_reply(stack, alice_gmail)
            show_zoho_deal_won(stack, alice_gmail)
            show_lead_and_followup(stack, alice_gmail)
            show_admin_overview(stack, alice_gmail)
            print(f"\nGmail quota used by MailMagnet in this demo: {stack.gmail.quota_units(alice_gmail)} units; "
                  f"Slack Web API calls: {len(stack.slack.calls)}.")
        finally:
            stack.stop()


def _final_answer(stack, response) -> dict:
    """The answer that replaced "looking…" in a /contact response_url."""
    return stack.slack.wait_for(lambda: [p for p in stack.slack.response_url_posts(response.response_url)
                                         if p.get("replace_original")], timeout=20)[-1]


def _people(text: str, names: dict[str, str]) -> str:
    """Slack's markup as a person reads it: @names, dates, and &lt;/&gt;/&amp; as characters."""
    import re

    for user_id, name in names.items():
        text = text.replace(f"<@{user_id}>", f"@{name}")
    text = re.sub(r"<!date\^\d+\^[^|>]*\|([^>]*)>", r"\1", text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _email_lines(post: dict, names: dict[str, str]) -> str:
    lines = []
    for block in post.get("blocks") or []:
        if (block.get("block_id") or "").startswith("email_"):
            lines.append(" | ".join(block["text"]["text"].split("\n")))
        elif block.get("type") == "context" and lines and block["elements"][0]["text"].startswith("“"):
            lines[-1] += f"  {block['elements'][0]['text']}"
        elif block.get("type") == "context" and not lines:
            lines.append(block["elements"][0]["text"])
    return _people("\n".join(lines) or "(no emails shown)", names)


def show_contact_view_and_reply(stack, alice_gmail: str) -> None:
    """F5–F7: a colleague's /contact under Alice's sharing settings, then a threaded reply sent from Slack."""
    import json

    from handlers.blocks.compose import BODY_BLOCK, SUBJECT_BLOCK
    from handlers.blocks.ids import ActionId
    from testsupport.stack import REP

    carol = "U0CAROL"
    names = {REP: "alice", carol: "carol", "U0ADMIN": "bruno"}
    stack.add_rep(carol, "carol@mailmagnet.example", gmail=None)
    stack.gmail.insert_message(alice_gmail, sender='"Jane Doe" <jane.doe@acme.example>', to=alice_gmail,
                               subject="Renewal: can we sign before the 28th?",
                               body="Hi Alice, legal is fine with the draft. Please send the final version to my "
                                    "assistant, who handles signatures.\nThanks, Jane",
                               message_id_header="<renewal-42@acme.example>",
                               extra_headers={"Reply-To": "Sam Lee (for Jane Doe) <sam.lee@acme.example>"})

    def carol_looks(title: str) -> None:
        response = stack.driver.slash_command(carol, "/contact", "Jane Doe")
        print(f"\n{title}")
        print(_indent(_email_lines(_final_answer(stack, response), names)))

    print("\n10. Alice shares her mailbox with the workspace, subjects only: /gmail sharing public subject")
    print(_indent(_command(stack, REP, "sharing public subject")))
    carol_looks("    Carol (a CRM user, not Jane's owner): /contact Jane Doe -> subjects, never previews or bodies")
    print("\n11. Alice: /gmail sharing custom -> Carol is neither Jane's owner nor a deal owner, nor shared with")
    _command(stack, REP, "sharing custom")
    carol_looks("    Carol: /contact Jane Doe")
    print("    Alice: /gmail share @carol")
    _command(stack, REP, f"share <@{carol}|carol>")
    carol_looks("    Carol: /contact Jane Doe")

    print("\n12. Alice opens Jane's latest email (the owner sees the body) and replies from Slack")
    response = stack.driver.slash_command(REP, "/contact", "jane.doe@acme.example")
    post = _final_answer(stack, response)
    message = [m for m in stack.slack.ephemerals(REP) if m.get("response_url_key") == post["key"]][-1]
    opened = next(e for b in message["blocks"] if (b.get("block_id") or "").startswith("email_")
                  for e in [b["accessory"]])
    before = len(stack.slack.view_calls)
    stack.driver.block_action(REP, ActionId.EMAIL_OPEN.value, value=opened["value"], message=message)
    detail = stack.slack.wait_for(lambda: [c for c in stack.slack.view_calls[before:]
                                           if c["method"] == "views.update"], timeout=20)[-1]["view"]
    body = next(b["text"]["text"] for b in detail["blocks"] if (b.get("text") or {}).get("type") == "plain_text")
    print(_indent(f"email detail, body: {body}"))
    before = len(stack.slack.view_calls)
    stack.driver.block_action(REP, ActionId.EMAIL_REPLY.value, value=opened["value"], view=detail)
    compose = stack.slack.wait_for(lambda: [c for c in stack.slack.view_calls[before:]
                                            if c["method"] == "views.update"], timeout=20)[-1]["view"]
    print(_indent(_people("reply modal: " + " ".join(b["text"]["text"] for b in compose["blocks"]
                                                       if b.get("type") == "section").replace("\n", " "), names)))
    stack.driver.view_submission(REP, compose, values={
        SUBJECT_BLOCK: {"subject": {"type": "plain_text_input", "value": "Re: Renewal: can we sign before the 28th?"}},
        BODY_BLOCK: {"body": {"type": "plain_text_input", "value": "Hi Sam, final version attached. Best, Alice"}}})
    sent = stack.slack.wait_for(lambda: stack.gmail.sent_messages(alice_gmail), timeout=20)[-1]
    original = stack.gmail.message(alice_gmail, json.loads(opened["value"])["g"])
    print(_indent(f"sent through Alice's Gmail: To: {sent['to']} | In-Reply-To: {sent['headers']['In-Reply-To']} | "
                  f"same thread: {sent['threadId'] == original['threadId']}"))
    confirmation = stack.slack.wait_for(lambda: [m for m in stack.slack.dms(REP) if "Sent your reply" in
                                                 (m.get("text") or "")], timeout=20)[-1]
    print(_indent(f"DM to Alice: {confirmation['text']}"))

    print("\n13. Bruno (admin): /gmail admin audit -> who saw whose emails (no content in the log)")
    print(_indent(_people(_command(stack, "U0ADMIN", "admin audit"), names)))


def show_zoho_deal_won(stack, alice_gmail: str) -> None:
    """SPEC §3/§6: CRM data from Zoho CRM, with no CSV file; a deal won there moves the mail in Gmail."""
    import dataclasses

    from crm_sync import ZohoConfig
    from sandbox.zoho_emulator import ZohoEmulator
    from handlers.blocks.crm_data import crm_data_line
    from usecases.crm import crm_data_state, sync_zoho

    with ZohoEmulator() as zoho:
        zoho.register_client("1000.DEMO", "demo-secret")
        stack.services.zoho = ZohoConfig(client_id="1000.DEMO", client_secret="demo-secret",
                                         refresh_token=zoho.issue_refresh_token("1000.DEMO"),
                                         accounts_url=zoho.accounts_url, api_url=zoho.api_url)
        ana = zoho.add_contact("ana.lopez@hooli-labs.example", first_name="Ana", last_name="Lopez",
                               company="Hooli Labs", owner="alice@mailmagnet.example")
        deal = zoho.add_deal("Hooli Labs pilot", stage="Negotiation", contact_id=ana, closing_date="2099-03-31",
                             amount=18000, owner="alice@mailmagnet.example")
        print("\n14. Zoho CRM: a new contact, Ana Lopez (Hooli Labs), with an open deal; the CRM sync reads it")
        print(_indent(f"Zoho CRM sync: {sync_zoho(stack.services).summary()}"))
        gmail_id = stack.mail("Ana Lopez <ana.lopez@hooli-labs.example>", "Pilot feedback", gmail=alice_gmail)
        stack.run("labels")
        ours = set(dataclasses.asdict(stack.services.labels).values())
        where = lambda: ", ".join(sorted(stack.gmail.label_names(alice_gmail, gmail_id) & ours))  # noqa: E731
        print(_indent(f"Ana writes; after the label run her email is under: {where()}"))
        zoho.advance(2)
        zoho.edit_record("Deals", deal, Stage="Closed Won")
        print("    In Zoho CRM the deal is won. Next CRM sync, then the next label run:")
        print(_indent(f"Zoho CRM sync: {sync_zoho(stack.services).summary()}"))
        stack.run("labels")
        print(_indent(f"Ana's email is now under: {where()}"))
        print(_indent(crm_data_line(crm_data_state(stack.services))))
        stack.services.zoho = None


def show_lead_and_followup(stack, alice_gmail: str) -> None:
    """SPEC §3: a lead's first email alerts (status, owner); converting it keeps its history; an unanswered
    customer email gets one follow-up nudge in working hours."""
    from datetime import timedelta

    from crm_store.db import session_scope
    from sqlmodel import select

    from crm_store.models import Alert, Contact, GmailAccount
    from crm_sync import ZohoConfig
    from gmail.followups import WorkingHours
    from sandbox.zoho_emulator import ZohoEmulator
    from testsupport.stack import REP, TEAM
    from usecases.crm import sync_zoho

    dm = stack.slack.dm_channel(TEAM, REP)

    def newest(event_type: str) -> dict:
        return [m for m in stack.slack.messages(dm) if (m.get("metadata") or {}).get("event_type") == event_type][-1]

    with ZohoEmulator() as zoho:
        zoho.register_client("1000.DEMO", "demo-secret")
        stack.services.zoho = ZohoConfig(client_id="1000.DEMO", client_secret="demo-secret",
                                         refresh_token=zoho.issue_refresh_token("1000.DEMO"),
                                         accounts_url=zoho.accounts_url, api_url=zoho.api_url)
        pat = zoho.add_lead("pat.kim@zylker.example", first_name="Pat", last_name="Kim", company="Zylker",
                            lead_status="Contacted", owner="alice@mailmagnet.example")
        print("\n15. Zoho CRM: a lead, Pat Kim (Zylker, lead status Contacted); the CRM sync reads Leads too")
        print(_indent(f"Zoho CRM sync: {sync_zoho(stack.services).summary()}"))
        stack.mail("Pat Kim <pat.kim@zylker.example>", "Can we see a demo?", gmail=alice_gmail,
                   date=datetime.now(timezone.utc) - timedelta(days=7))
        stack.run("sync")
        alert = newest("mailmagnet_alert")
        fields = [f["text"] for b in alert["blocks"] if b.get("fields") for f in b["fields"]]
        print(_indent(f"Pat writes; alert in Alice's DM: {alert['text']} | "
                      + " | ".join(field.replace(chr(10), ": ") for field in fields)))
        zoho.advance(2)
        zoho.convert_lead(pat)
        zoho.advance(2)
        print("    In Zoho CRM the lead is converted into a contact. Next CRM sync:")
        print(_indent(f"Zoho CRM sync: {sync_zoho(stack.services).summary()}"))
        with session_scope(stack.engine) as session:
            contact = session.exec(select(Contact).where(Contact.email == "pat.kim@zylker.example")).one()
            alerts = session.exec(select(Alert).where(Alert.contact_id == contact.id)).all()
            print(_indent(f"Pat is now {'a lead' if contact.is_lead else 'a contact'} (same record), "
                          f"with {len(alerts)} alert in their history"))
        stack.services.zoho = None

    print("\n16. Nobody answered Pat's email of a week ago: after 24 working hours, one follow-up nudge")
    with session_scope(stack.engine) as session:
        account = session.exec(select(GmailAccount).where(GmailAccount.email_address == alice_gmail)).one()
        session.expunge(account)
    nudger = stack.services.jobs.nudger
    moment = WorkingHours.parse(stack.services.config.followup_working_hours).add(
        datetime.now(timezone.utc), 0.1, "UTC")  # the next working moment (a weekday, 09:00-17:00)
    nudger.clock = lambda: moment
    nudger.run(account)
    nudge = newest("mailmagnet_followup")
    buttons = [e["text"]["text"] for b in nudge["blocks"] if b["type"] == "actions" for e in b["elements"]]
    print(_indent(f"DM to Alice: {nudge['text']} [{' | '.join(buttons)}]"))
    nudger.min_interval = timedelta(0)  # look again at once (the scheduler looks at most once a minute)
    print(_indent(f"run again: {nudger.run(account)} more nudges (exactly one per unanswered thread)"))


def show_admin_overview(stack, alice_gmail: str) -> None:
    """For admins (issue 20): a team onboarded with one command, the overview, an incident told once."""
    from crm_store.db import session_scope
    from crm_store.user_records import apply_user_records
    from crm_store.users import find_user_by_email, set_permissions
    from testsupport.stack import TEAM

    team = {"U0DAN": "dan", "U0EVE": "eve", "U0FAY": "fay"}
    for slack_id, name in team.items():
        stack.slack.add_user(TEAM, slack_id, email=f"{name}@mailmagnet.example", real_name=name.title())
    with session_scope(stack.engine) as session:  # `mailmagnet users import`: the CRM's users, roles, managers
        apply_user_records(session, list(enumerate(
            [{"email": f"{name}@mailmagnet.example", "role": "Sales Rep", "manager_email": "bruno@mailmagnet.example"}
             for name in team.values()])), source="csv")
        set_permissions(session, find_user_by_email(session, "bruno@mailmagnet.example"), is_admin=True)
    stack.slack.add_usergroup(TEAM, "sales", [*team, "U0CAROL"])
    print("\n17. Bruno onboards the sales team at once: /gmail admin grant @sales")
    print(_indent(_readable(_escaped_command(stack, "U0ADMIN", "admin grant @sales"))))
    print(_indent("DM to Dan: " + stack.slack.dms("U0DAN")[-1]["text"]))
    stack.gmail.revoke_access(alice_gmail)
    stack.gmail.expire_access_tokens(alice_gmail)
    stack.run("sync")
    stack.services.jobs.tell_admins()
    print("\n18. Alice removes MailMagnet's access in her Google account; after the next sync Bruno is told once:")
    print(_indent("DM to Bruno: " + stack.slack.dms("U0ADMIN")[-1]["text"]))
    print("    Bruno: /gmail admin status")
    print(_indent(_command(stack, "U0ADMIN", "admin status")))


def _escaped_command(stack, user_id: str, text: str) -> dict:
    """A command typed with a mention Slack escapes (`@sales` → `<!subteam^…|@sales>`)."""
    response = stack.driver.slash_command(user_id, "/gmail", text, escape=True)
    return stack.slack.wait_for(lambda: next(iter(stack.slack.response_url_posts(response.response_url)), None),
                                timeout=15)


def main() -> int:
    """Settings are checked first (one line naming a bad one, as every `mailmagnet` command does)."""
    from bot.cli import run_with_settings

    return run_with_settings(run_demo)


if __name__ == "__main__":
    sys.exit(main())
