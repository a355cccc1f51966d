"""SPEC §4 on real Gmail calls: filing, precedence, other labels kept, backfill, re-filing, idempotency."""
from __future__ import annotations

import io
import json
from datetime import datetime, timedelta, timezone

import pytest
from sqlmodel import select

from crm_store.categories import LabelNames, StageRules
from crm_store.csv_import import import_contacts, import_deals
from crm_store.db import session_scope
from crm_store.mailboxes import set_labels
from crm_store.models import GmailAccount
from gmail.accounts import load_credentials
from gmail.labels import LabelFiler
from tests.support.labels import CONTACTS, DEALS, NAMES, USER, mail, names
from tests.support.labels import labels_env  # noqa: F401 - fixtures


def test_each_category_is_filed_with_precedence_and_inbox_removed(labels_env):
    env = labels_env
    ids = {key: mail(env, f"{key}@x.example") for key in ("closing", "open", "customer", "lost", "nodeals")}
    ids["alias"] = mail(env, "Cora <ALIAS@y.example>")
    ids["stranger"] = mail(env, "someone@else.example")
    result = env.label_run()
    for key, label in NAMES.items():
        assert names(env, ids[key]) >= {label} and "INBOX" not in names(env, ids[key]), key
    assert NAMES["customer"] in names(env, ids["alias"])
    for key in ("lost", "nodeals", "stranger"):
        assert "INBOX" in names(env, ids[key]) and not names(env, ids[key]) & set(NAMES.values()), key
    assert result.filed == {"Deals Closing This Month": 1, "Open Deals": 1, "Customers": 2}
    assert sorted(result.labels_created) == sorted(NAMES.values())


def test_other_labels_are_kept_and_only_inbox_mail_is_filed(labels_env):
    env = labels_env
    env.emu.create_label(USER, "Projects/Acme")
    tagged = mail(env, "open@x.example", label_ids=("INBOX", "UNREAD", "Projects/Acme"))
    archived = mail(env, "open@x.example", label_ids=("Projects/Acme",))
    env.label_run()
    assert names(env, tagged) >= {"Open Deals", "Projects/Acme", "UNREAD"} and "INBOX" not in names(env, tagged)
    assert "Open Deals" not in names(env, archived)


def test_batch_modify_for_many_modify_for_few(labels_env):
    env = labels_env
    many = [mail(env, "open@x.example") for _ in range(12)]
    few = [mail(env, "customer@x.example") for _ in range(3)]
    env.emu.reset_counters()
    env.label_run()
    methods = [c.method.rsplit(".", 1)[-1] for c in env.emu.calls]
    assert methods.count("batchModify") == 1 and methods.count("modify") == 3
    assert all("Open Deals" in names(env, i) for i in many) and all("Customers" in names(env, i) for i in few)


def test_second_run_changes_nothing_and_costs_one_history_call(labels_env):
    env = labels_env
    mail(env, "closing@x.example")
    env.label_run()
    env.emu.reset_counters()
    result = env.label_run()
    assert not result.changed
    assert [c.method for c in env.emu.calls] == ["gmail.users.history.list"]
    assert env.emu.quota_units(USER) == 2


def test_backfill_files_the_inbox_within_the_lookback(gmail_env):
    import_contacts(gmail_env.engine, io.StringIO(CONTACTS))
    import_deals(gmail_env.engine, io.StringIO(DEALS))
    account_id = gmail_env.connect(USER)
    filer = LabelFiler(gmail_env.engine, StageRules(), LabelNames())
    pipeline = gmail_env.pipeline(filer)
    now = datetime.now(timezone.utc)
    recent = mail(gmail_env, "open@x.example", date=now - timedelta(days=3))
    old = mail(gmail_env, "open@x.example", date=now - timedelta(days=40))
    pipeline.sync(account_id)
    with session_scope(gmail_env.engine) as session:
        set_labels(session, session.get(GmailAccount, account_id), True)
    pipeline.sync(account_id)
    account = gmail_env.account(account_id)
    mailbox = gmail_env.service.mailbox(load_credentials(gmail_env.cipher, account, gmail_env.config))
    filer.run(account, mailbox)
    assert "Open Deals" in names(gmail_env, recent) and "INBOX" in names(gmail_env, old)


def test_crm_change_refiles_between_labels_never_back_to_inbox(labels_env):
    env = labels_env
    otto = mail(env, "open@x.example")
    cora = mail(env, "customer@x.example")
    lou = mail(env, "closing@x.example")
    env.label_run()
    # Otto's deal moves into this month; Cora's customer gets a new open deal; Cleo's deal is lost.
    import_deals(env.engine, io.StringIO(
        "name,contact_external_id,stage,closing_date,external_id\n"
        "Later,C2,Proposal,2026-11-25,D2\n"
        "Upsell,C3,Qualification,2027-05-01,D3b\n"
        "Closing,C1,Closed Lost,2026-11-28,D1\n"))
    env.emu.reset_counters()
    result = env.label_run()
    assert names(env, otto) >= {"Deals Closing This Month"} and "Open Deals" not in names(env, otto)
    assert "Open Deals" in names(env, cora) and "Customers" not in names(env, cora)
    # Cleo still has the old win: Customers now.
    assert "Customers" in names(env, lou) and "Deals Closing This Month" not in names(env, lou)
    assert not any("INBOX" in names(env, i) for i in (otto, cora, lou))
    assert result.refiled == 3
    # Cost proportional to the change: no listing, no get; one modify per moved group.
    methods = {c.method.rsplit(".", 1)[-1] for c in env.emu.calls}
    assert methods <= {"list", "modify", "batchModify"} and "get" not in methods


def test_contact_losing_every_category_keeps_its_label(labels_env):
    env = labels_env
    otto = mail(env, "open@x.example")
    env.label_run()
    import_deals(env.engine, io.StringIO("name,contact_external_id,stage,closing_date,external_id\n"
                                         "Later,C2,Closed Lost,2027-03-01,D2\n"))
    env.label_run()
    assert "Open Deals" in names(env, otto) and "INBOX" not in names(env, otto)


def test_new_month_moves_mail_out_of_closing_this_month(labels_env):
    env = labels_env
    cleo = mail(env, "closing@x.example")
    env.label_run()
    assert "Deals Closing This Month" in names(env, cleo)
    env.clock.now = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
    result = env.label_run()
    # The Nov 28 deal is overdue but open: Open Deals, which beats the old win.
    assert "Open Deals" in names(env, cleo) and "Deals Closing This Month" not in names(env, cleo)
    assert result.refiled == 1


def test_new_month_moves_mail_into_closing_this_month_and_leaves_the_rest(labels_env):
    env = labels_env
    import_contacts(env.engine, io.StringIO("email,first_name,external_id\ndec@x.example,Dee,C6\n"))
    import_deals(env.engine, io.StringIO("name,contact_external_id,stage,closing_date,external_id\n"
                                         "December,C6,Proposal,2026-12-15,D6\n"))
    dee, cleo, cora, otto = (mail(env, a) for a in ("dec@x.example", "closing@x.example", "customer@x.example",
                                                    "open@x.example"))
    env.label_run()
    assert "Open Deals" in names(env, dee) and "Deals Closing This Month" in names(env, cleo)
    env.clock.now = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
    env.emu.reset_counters()
    result = env.label_run()
    assert "Deals Closing This Month" in names(env, dee) and "Open Deals" not in names(env, dee)
    assert "Open Deals" in names(env, cleo) and "Deals Closing This Month" not in names(env, cleo)
    assert "Customers" in names(env, cora) and "Open Deals" in names(env, otto)
    assert result.refiled == 2
    assert sorted(c.method.rsplit(".", 1)[-1] for c in env.emu.calls) == ["list", "modify", "modify"]


def test_months_without_a_label_run_still_move_what_the_calendar_changed(labels_env):
    """Last run in October, next in December: October's closing deals are overdue (Open Deals), December's
    are closing; a deal closing in November only changed nothing between the two runs."""
    env = labels_env
    import_contacts(env.engine, io.StringIO("email,first_name,external_id\n"
                                            "oct@x.example,Oc,C7\nnov@x.example,No,C8\ndec@x.example,De,C9\n"))
    import_deals(env.engine, io.StringIO("name,contact_external_id,stage,closing_date,external_id\n"
                                         "Oct,C7,Proposal,2026-10-25,D7\nNov,C8,Proposal,2026-11-10,D8\n"
                                         "Dec,C9,Proposal,2026-12-24,D9\n"))
    env.clock.now = datetime(2026, 10, 20, 12, 0, tzinfo=timezone.utc)
    october, november, december = (mail(env, f"{m}@x.example") for m in ("oct", "nov", "dec"))
    env.label_run()
    assert "Deals Closing This Month" in names(env, october)
    assert "Open Deals" in names(env, november) and "Open Deals" in names(env, december)
    env.clock.now = datetime(2026, 12, 2, 12, 0, tzinfo=timezone.utc)
    result = env.label_run()
    assert "Open Deals" in names(env, october) and "Open Deals" in names(env, november)
    assert "Deals Closing This Month" in names(env, december)
    assert result.refiled == 2


def test_a_deal_changed_after_another_mailbox_turned_the_month_still_moves_the_mail(labels_env):
    """The contacts a new month can move are read once per month turn and shared by the mailboxes; a deal that
    changes afterwards reaches every mailbox through the category changes."""
    env = labels_env
    other = env.connect("other@gmail.example", "U2")
    pipeline = env.pipeline(LabelFiler(env.engine, StageRules(), LabelNames()))
    pipeline.sync(other)
    with session_scope(env.engine) as session:
        set_labels(session, session.get(GmailAccount, other), True)
    pipeline.sync(other)
    filer = LabelFiler(env.engine, StageRules(), LabelNames(), clock=env.clock)
    pipeline = env.pipeline(filer)
    pipeline.clock = env.clock

    def run(account_id):
        pipeline.sync(account_id)
        account = env.account(account_id)
        return filer.run(account, env.service.mailbox(load_credentials(env.cipher, account, env.config)))

    mine = mail(env, "open@x.example")
    theirs = env.emu.insert_message("other@gmail.example", sender="open@x.example", to="other@gmail.example",
                                    subject="Hi")
    run(env.account_id), run(other)
    assert "Open Deals" in names(env, mine) and "Open Deals" in env.emu.label_names("other@gmail.example", theirs)
    env.clock.now = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
    run(env.account_id)  # the month turns here first; Otto's deal closes in March: nothing moves
    import_deals(env.engine, io.StringIO("name,contact_external_id,stage,closing_date,external_id\n"
                                         "Later,C2,Proposal,2026-12-18,D2\n"))
    assert run(other).refiled == 1
    assert "Deals Closing This Month" in env.emu.label_names("other@gmail.example", theirs)
    assert run(env.account_id).refiled == 1
    assert "Deals Closing This Month" in names(env, mine)


def test_deleted_label_is_recreated_and_existing_one_reused(labels_env):
    env = labels_env
    env.emu.create_label(USER, "open deals")  # exists already, other case: reused, not duplicated
    first = mail(env, "open@x.example")
    env.label_run()
    reused = env.emu.label_id(USER, "open deals")
    assert env.emu.label_id(USER, "Open Deals") == reused and reused in env.emu.message(USER, first)["labelIds"]
    env.emu.delete_label(USER, env.emu.label_id(USER, "Customers"))  # the rep deleted it in Gmail
    second = mail(env, "customer@x.example")
    result = env.label_run()
    assert "Customers" in names(env, second) and result.labels_created == ["Customers"]


def cache_label_ids(env, raw):
    with session_scope(env.engine) as session:
        account = session.get(GmailAccount, env.account_id)
        account.label_ids = raw
        session.add(account)


@pytest.mark.parametrize("broken", ["null", "empty", "missing", "not-json", "not-an-object"])
def test_a_broken_cached_label_id_is_treated_as_missing(labels_env, broken):
    env = labels_env
    mail(env, "open@x.example")
    env.label_run()  # the labels exist and their ids are cached
    ids = {name: env.emu.label_id(USER, label) for name, label in
           (("closing_this_month", NAMES["closing"]), ("open_deals", NAMES["open"]), ("customers", NAMES["customer"]))}
    raw = {"null": json.dumps({**ids, "open_deals": None}), "empty": json.dumps({**ids, "open_deals": ""}),
           "missing": json.dumps({k: v for k, v in ids.items() if k != "open_deals"}),
           "not-json": "{", "not-an-object": "[1]"}[broken]
    cache_label_ids(env, raw)
    new = [mail(env, "open@x.example") for _ in range(12)]
    env.emu.reset_counters()
    env.label_run()
    assert all("Open Deals" in names(env, i) and "INBOX" not in names(env, i) for i in new)
    assert [c for c in env.emu.calls if c.status not in (200, 204)] == []  # no refused batchModify (50 units)
    assert env.emu.call_counts(USER).get("gmail.users.messages.batchModify") == 1
    assert "labels.create" not in json.dumps(env.emu.call_counts(USER))  # found again by listing, not recreated


def test_ensure_labels_creates_or_finds_the_three_labels_and_says_so(labels_env):
    from gmail.label_ids import labels_created_in_gmail

    env = labels_env
    env.emu.create_label(USER, "OPEN DEALS")
    account = env.account(env.account_id)
    assert not labels_created_in_gmail(account)
    mailbox = env.service.mailbox(load_credentials(env.cipher, account, env.config))
    filer = LabelFiler(env.engine, StageRules(), LabelNames())
    ids = filer.ensure_labels(env.account_id, mailbox)
    assert ids == {"closing_this_month": env.emu.label_id(USER, NAMES["closing"]),
                   "open_deals": env.emu.label_id(USER, "OPEN DEALS"),
                   "customers": env.emu.label_id(USER, NAMES["customer"])}
    assert all(ids.values()) and labels_created_in_gmail(env.account(env.account_id))
    env.emu.reset_counters()
    assert filer.ensure_labels(env.account_id, mailbox) == ids  # idempotent: one labels.list, nothing created
    assert [c.method for c in env.emu.calls] == ["gmail.users.labels.list"]


def test_a_run_that_dies_between_gmail_and_the_database_is_finished_by_the_next(labels_env, monkeypatch):
    """Our own removal of INBOX must not pass for the rep archiving the message."""
    from crm_store.models import MailboxMessage

    env = labels_env
    otto = mail(env, "open@x.example")
    filer_mark = LabelFiler._mark
    calls = []

    def die_after_gmail(self, account_id, gmail_ids, category, now):
        if category is not None and not calls:
            calls.append(gmail_ids)
            raise RuntimeError("kill -9 after batchModify")
        return filer_mark(self, account_id, gmail_ids, category, now)

    monkeypatch.setattr(LabelFiler, "_mark", die_after_gmail)
    with pytest.raises(RuntimeError):
        env.label_run()
    assert "Open Deals" in names(env, otto) and "INBOX" not in names(env, otto)  # Gmail was told
    env.emu.reset_counters()
    env.label_run()  # its sync sees INBOX removed: by us, not by the rep
    with session_scope(env.engine) as session:
        row = session.exec(select(MailboxMessage).where(MailboxMessage.gmail_id == otto)).one()
        assert row.filed_category == "open_deals" and not row.needs_filing and row.filed_at is not None
    assert "Open Deals" in names(env, otto)


def test_a_refile_that_dies_between_gmail_and_the_database_is_not_undone_by_a_change_back(labels_env, monkeypatch):
    """Found by the fleet (a kill at `labels.batch_modified` in a refile): Gmail moved the mail to the new label,
    the database still said the old one; the deal then changed back before the next run, which saw the stored
    label agree with the category and left the mail under the label of the change in between, for good."""
    env = labels_env
    otto = mail(env, "open@x.example")
    env.label_run()
    assert "Open Deals" in names(env, otto)
    filer_mark = LabelFiler._mark
    died = []

    def die_after_gmail(self, account_id, gmail_ids, category, now):
        if category is not None and not died:
            died.append(gmail_ids)
            raise RuntimeError("kill -9 after the refile's modify")
        return filer_mark(self, account_id, gmail_ids, category, now)

    # Otto's deal moves into this month: the refile reaches Gmail, then the process dies.
    import_deals(env.engine, io.StringIO("name,contact_external_id,stage,closing_date,external_id\n"
                                         "Later,C2,Proposal,2026-11-25,D2\n"))
    monkeypatch.setattr(LabelFiler, "_mark", die_after_gmail)
    with pytest.raises(RuntimeError):
        env.label_run()
    monkeypatch.setattr(LabelFiler, "_mark", filer_mark)
    assert "Deals Closing This Month" in names(env, otto)  # Gmail was told
    # Before the next run, the deal moves back out of this month.
    import_deals(env.engine, io.StringIO("name,contact_external_id,stage,closing_date,external_id\n"
                                         "Later,C2,Proposal,2027-03-01,D2\n"))
    env.label_run()
    assert names(env, otto) & set(NAMES.values()) == {"Open Deals"} and "INBOX" not in names(env, otto)


def test_a_refile_that_dies_before_gmail_leaves_the_mail_where_the_crm_says(labels_env, monkeypatch):
    """The other side of the same window: the run dies before Gmail is asked; the next run files by the CRM."""
    env = labels_env
    otto = mail(env, "open@x.example")
    env.label_run()
    import_deals(env.engine, io.StringIO("name,contact_external_id,stage,closing_date,external_id\n"
                                         "Later,C2,Proposal,2026-11-25,D2\n"))
    filer_apply = LabelFiler._apply

    def die_before_gmail(self, *args, **kwargs):
        raise RuntimeError("kill -9 before the refile's modify")

    monkeypatch.setattr(LabelFiler, "_apply", die_before_gmail)
    with pytest.raises(RuntimeError):
        env.label_run()
    monkeypatch.setattr(LabelFiler, "_apply", filer_apply)
    assert "Open Deals" in names(env, otto)
    env.label_run()
    assert names(env, otto) & set(NAMES.values()) == {"Deals Closing This Month"} and "INBOX" not in names(env, otto)


def test_a_from_header_with_several_addresses_is_filed_by_its_strongest_contact(labels_env):
    env = labels_env
    both = mail(env, "someone@else.example, Cleo <closing@x.example>, customer@x.example")
    env.label_run()
    assert "Deals Closing This Month" in names(env, both) and "INBOX" not in names(env, both)
