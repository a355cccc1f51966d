"""CRM CSV import (SPEC §6), on SQLite and PostgreSQL through the `engine` fixture."""
from __future__ import annotations

import io
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import func, select

from crm_store.csv_import import (
    ImportRejected,
    RowError,
    format_errors,
    import_contacts,
    import_deals,
)
from crm_store.db import session_scope
from crm_store.models import CategoryChange, Contact, CrmUser, Deal
from crm_store.users import user_profile

DATA = Path(__file__).parent / "data"


# --------------------------------------------------------------------------- helpers


def write_csv(tmp_path: Path, text: str, name: str = "file.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def counts(engine) -> dict[str, int]:
    with session_scope(engine) as session:
        return {
            model.__tablename__: session.exec(select(func.count()).select_from(model)).one()
            for model in (Contact, Deal, CrmUser, CategoryChange)
        }


def contact_by_email(engine, email: str) -> Contact | None:
    with session_scope(engine) as session:
        return session.exec(select(Contact).where(Contact.email == email)).first()


def deal_by_external_id(engine, external_id: str) -> Deal | None:
    with session_scope(engine) as session:
        return session.exec(select(Deal).where(Deal.external_id == external_id)).first()


def contact_id(engine, external_id: str) -> int:
    with session_scope(engine) as session:
        return session.exec(select(Contact.id).where(Contact.external_id == external_id)).one()


def category_change_contacts(engine) -> list[int]:
    with session_scope(engine) as session:
        return sorted(session.exec(select(CategoryChange.contact_id)).all())


def user_emails(engine) -> set[str]:
    with session_scope(engine) as session:
        return set(session.exec(select(CrmUser.email)).all())


def errors_of(report) -> list[tuple[int, str | None]]:
    return [(error.line, error.column) for error in report.errors]


def reason_at(report, line: int, column: str | None) -> str:
    matching = [error.reason for error in report.errors if (error.line, error.column) == (line, column)]
    assert len(matching) == 1, report.errors
    return matching[0]


@pytest.fixture
def crm(engine):
    """The sample contacts and deals imported."""
    import_contacts(engine, DATA / "contacts.csv")
    import_deals(engine, DATA / "deals.csv")
    return engine


# --------------------------------------------------------------------------- happy path


def test_contacts_file_creates_contacts_and_their_owners(engine):
    report = import_contacts(engine, DATA / "contacts.csv")

    assert (report.kind, report.created, report.updated, report.unchanged, report.skipped) == ("contacts", 4, 0, 0, 0)
    assert report.errors == []
    # New contacts have no deals yet: no label can change.
    assert report.changed_contact_ids == set()
    ana = contact_by_email(engine, "ana.lima@acme.example")
    assert (ana.external_id, ana.secondary_email, ana.first_name, ana.last_name, ana.company, ana.phone) == (
        "C-1", "ana@acme-group.example", "Ana", "Lima", "Acme", "+1 555 0101"
    )
    assert contact_by_email(engine, "chloe.martin@initech.example").first_name == "Chloé"
    dev = contact_by_email(engine, "dev.patel@umbrella.example")
    assert dev.owner_id is None and dev.phone is None and dev.secondary_email is None
    with session_scope(engine) as session:
        owner = session.get(CrmUser, ana.owner_id)
        assert owner.email == "rep.one@sales.example"
    assert user_emails(engine) == {"rep.one@sales.example", "rep.two@sales.example"}
    assert counts(engine)["category_changes"] == 0


def test_deals_file_creates_deals_and_category_changes(engine):
    import_contacts(engine, DATA / "contacts.csv")
    report = import_deals(engine, DATA / "deals.csv")

    assert (report.kind, report.created, report.updated, report.unchanged, report.skipped) == ("deals", 4, 0, 0, 0)
    renewal = deal_by_external_id(engine, "D-1")
    assert (renewal.name, renewal.stage, renewal.closing_date, renewal.amount) == (
        "Acme renewal", "Negotiation", date(2026, 11, 28), Decimal("48000.00")
    )
    # contact_email matches a secondary email too, whatever its case.
    pilot = deal_by_external_id(engine, "D-2")
    assert pilot.contact_id == contact_id(engine, "C-1")
    assert pilot.amount == Decimal("12000.50")
    expansion = deal_by_external_id(engine, "D-3")
    assert expansion.closing_date is None and expansion.amount is None
    # An unknown stage is simply an open deal, not an error.
    assert deal_by_external_id(engine, "D-4").stage == "Waiting on legal"
    # A deal owner unknown to the CRM becomes a user.
    assert "rep.three@sales.example" in user_emails(engine)

    with_deals = {contact_id(engine, ext) for ext in ("C-1", "C-2", "C-3")}
    assert report.changed_contact_ids == with_deals
    # One change row per contact, not per deal (C-1 has two new deals).
    assert category_change_contacts(engine) == sorted(with_deals)


def test_reimporting_the_same_files_changes_nothing(crm):
    before = counts(crm)
    stamp = contact_by_email(crm, "ana.lima@acme.example").updated_at
    deal_stamp = deal_by_external_id(crm, "D-1").updated_at

    contacts = import_contacts(crm, DATA / "contacts.csv")
    deals = import_deals(crm, DATA / "deals.csv")

    assert (contacts.created, contacts.updated, contacts.unchanged) == (0, 0, 4)
    assert (deals.created, deals.updated, deals.unchanged) == (0, 0, 4)
    assert contacts.changed_contact_ids == deals.changed_contact_ids == set()
    assert counts(crm) == before  # in particular no new CategoryChange rows
    assert contact_by_email(crm, "ana.lima@acme.example").updated_at == stamp
    assert deal_by_external_id(crm, "D-1").updated_at == deal_stamp


def test_file_objects_are_accepted(engine):
    text = (DATA / "contacts.csv").read_text(encoding="utf-8")
    assert import_contacts(engine, io.StringIO(text)).created == 4
    assert import_contacts(engine, io.BytesIO(text.encode())).unchanged == 4


# --------------------------------------------------------------------------- upserts


def test_contacts_upsert_by_external_id(crm, tmp_path):
    ana_id = contact_id(crm, "C-1")
    before = contact_by_email(crm, "ana.lima@acme.example")
    changes_before = category_change_contacts(crm)
    path = write_csv(tmp_path, (
        "external_id,email,first_name,company\n"
        "C-1,ana@acme-new.example,Ana,Acme\n"        # primary email changes
        "C-2,ben.okafor@globex.example,Benjamin,Globex\n"  # name only
        "C-4,dev.patel@umbrella.example,Dev,Umbrella\n"    # as it is
        "C-5,emma.stone@hooli.example,Emma,Hooli\n"        # new
    ))

    report = import_contacts(crm, path)

    assert (report.created, report.updated, report.unchanged) == (1, 2, 1)
    ana = contact_by_email(crm, "ana@acme-new.example")
    assert ana.id == ana_id
    assert contact_by_email(crm, "ana.lima@acme.example") is None
    # Columns missing from the file are left as they were.
    assert (ana.last_name, ana.secondary_email, ana.owner_id) == (before.last_name, before.secondary_email, before.owner_id)
    assert ana.updated_at > before.updated_at
    assert contact_by_email(crm, "ben.okafor@globex.example").first_name == "Benjamin"
    # Only an address change can move mail between labels.
    assert report.changed_contact_ids == {ana_id}
    assert category_change_contacts(crm) == sorted(changes_before + [ana_id])


def test_contacts_upsert_by_email_when_no_external_id(engine, tmp_path):
    import_contacts(engine, write_csv(tmp_path, "email,first_name,phone\nzoe@example.com,Zoe,+1 555\n", "a.csv"))
    report = import_contacts(engine, write_csv(tmp_path, "Email,First Name,Phone\n  ZOE@Example.COM ,Zoé,\n", "b.csv"))

    assert (report.created, report.updated, report.unchanged) == (0, 1, 0)
    zoe = contact_by_email(engine, "zoe@example.com")
    assert zoe.first_name == "Zoé"
    assert zoe.phone is None  # an empty cell in a column the file has clears the field
    assert counts(engine)["contacts"] == 1
    assert report.changed_contact_ids == set()


def test_a_new_external_id_adopts_the_contact_with_that_email(engine, tmp_path):
    import_contacts(engine, write_csv(tmp_path, "email\nyann@example.com\n", "a.csv"))
    report = import_contacts(engine, write_csv(tmp_path, "email,external_id\nyann@example.com,Y-1\n", "b.csv"))

    assert (report.created, report.updated) == (0, 1)
    assert contact_by_email(engine, "yann@example.com").external_id == "Y-1"
    assert counts(engine)["contacts"] == 1


def test_external_id_of_one_contact_with_the_email_of_another_is_rejected(crm, tmp_path):
    path = write_csv(tmp_path, (
        "external_id,email\n"
        "C-1,ben.okafor@globex.example\n"    # C-1 is Ana; this address is Ben's (C-2)
        "C-9,dev.patel@umbrella.example\n"   # new id, but Dev already has external_id C-4
    ))
    with pytest.raises(ImportRejected) as rejected:
        import_contacts(crm, path)

    report = rejected.value.report
    assert errors_of(report) == [(2, "email"), (3, "external_id")]
    assert "already belongs to a different contact than external_id 'C-1'" in reason_at(report, 2, "email")
    assert "external_id 'C-4'" in reason_at(report, 3, "external_id")
    assert contact_by_email(crm, "ana.lima@acme.example").external_id == "C-1"


def test_an_address_belongs_to_one_contact_only(crm, tmp_path):
    path = write_csv(tmp_path, (
        "email,secondary_email\n"
        "new.person@example.com,ben.okafor@globex.example\n"  # Ben's primary email
        "ana@acme-group.example,\n"                            # Ana's secondary email
    ))
    with pytest.raises(ImportRejected) as rejected:
        import_contacts(crm, path)

    report = rejected.value.report
    assert reason_at(report, 2, "secondary_email") == (
        "'ben.okafor@globex.example' is already the email of the contact with external_id 'C-2'"
    )
    assert reason_at(report, 3, "email") == (
        "'ana@acme-group.example' is already the secondary email of the contact with external_id 'C-1'"
    )


def test_an_address_released_in_the_same_file_may_be_reused(crm, tmp_path):
    ana_id = contact_id(crm, "C-1")
    path = write_csv(tmp_path, (
        "external_id,email,secondary_email\n"
        "C-1,ana.lima@acme.example,\n"                  # Ana gives up her secondary address...
        "C-6,ana@acme-group.example,\n"                 # ...which becomes a contact of its own
    ))
    report = import_contacts(crm, path)

    assert (report.created, report.updated) == (1, 1)
    assert contact_by_email(crm, "ana.lima@acme.example").secondary_email is None
    assert contact_by_email(crm, "ana@acme-group.example").external_id == "C-6"
    assert report.changed_contact_ids == {ana_id}


def test_deals_upsert_by_external_id(crm, tmp_path):
    ana, ben = contact_id(crm, "C-1"), contact_id(crm, "C-2")
    before = deal_by_external_id(crm, "D-1")
    changes_before = category_change_contacts(crm)
    path = write_csv(tmp_path, (
        "external_id,name,contact_external_id,stage,closing_date,amount\n"
        "D-1,Acme renewal,C-1,Closed Won,2026-11-28,48000\n"      # stage: Ana's category may change
        "D-2,Acme pilot (signed),C-1,Closed Won,2026-03-10,13000\n"  # name and amount only
        "D-3,Globex expansion,C-1,Proposal,,\n"                    # moved from Ben to Ana
        "D-4,Initech order,C-3,Waiting on legal,2027-01-20,9000\n"  # as it is
    ))

    report = import_deals(crm, path)

    assert (report.created, report.updated, report.unchanged) == (0, 3, 1)
    renewal = deal_by_external_id(crm, "D-1")
    assert renewal.stage == "Closed Won" and renewal.updated_at > before.updated_at
    pilot = deal_by_external_id(crm, "D-2")
    assert (pilot.name, pilot.amount) == ("Acme pilot (signed)", Decimal("13000.00"))
    # The owner column is absent: owners stay as they were.
    assert pilot.owner_id is not None
    assert deal_by_external_id(crm, "D-3").contact_id == ana
    # Old and new contact of the moved deal; nothing for a name/amount change alone.
    assert report.changed_contact_ids == {ana, ben}
    assert category_change_contacts(crm) == sorted(changes_before + [ana, ben])


def test_deals_upsert_by_contact_and_name_without_external_id(crm, tmp_path):
    chloe = contact_id(crm, "C-3")
    first = write_csv(tmp_path, (
        "name,contact_email,stage,closing_date\n"
        "Support plan,chloe.martin@initech.example,Proposal,2026-12-15\n"
    ), "first.csv")
    assert import_deals(crm, first).created == 1
    changes_before = category_change_contacts(crm)

    moved = write_csv(tmp_path, (
        "name,contact_email,stage,closing_date\n"
        "Support plan,Chloe.Martin@Initech.example,Proposal,2027-02-01\n"
    ), "moved.csv")
    report = import_deals(crm, moved)

    assert (report.created, report.updated) == (0, 1)
    with session_scope(crm) as session:
        plans = session.exec(select(Deal).where(Deal.name == "Support plan")).all()
    assert [(plan.contact_id, plan.closing_date) for plan in plans] == [(chloe, date(2027, 2, 1))]
    assert report.changed_contact_ids == {chloe}
    assert category_change_contacts(crm) == sorted(changes_before + [chloe])
    # Once more: nothing changed, nothing recorded.
    again = import_deals(crm, moved)
    assert (again.updated, again.unchanged, again.changed_contact_ids) == (0, 1, set())


def test_deal_names_shared_with_external_id_rows_stay_importable(crm, tmp_path):
    path = write_csv(tmp_path, (
        "external_id,name,contact_external_id,stage\n"
        ",Renewal,C-4,Proposal\n"
        "R-2,Renewal,C-4,Proposal\n"
    ))
    assert import_deals(crm, path).created == 2
    report = import_deals(crm, path)
    assert (report.created, report.updated, report.unchanged) == (0, 0, 2)


# --------------------------------------------------------------------------- owners


def test_owner_email_creates_a_user_with_no_permissions(engine, tmp_path):
    path = write_csv(tmp_path, (
        "email,owner_email\n"
        "a@client.example,New.Rep@Sales.example\n"
        "b@client.example,new.rep@sales.example\n"
    ))
    import_contacts(engine, path)

    with session_scope(engine) as session:
        users = session.exec(select(CrmUser)).all()
        assert [user.email for user in users] == ["new.rep@sales.example"]
        profile = user_profile(session, users[0])
        assert (profile.mail_integration, profile.is_admin) == (False, False)
    assert contact_by_email(engine, "a@client.example").owner_id == users[0].id
    assert contact_by_email(engine, "b@client.example").owner_id == users[0].id


def test_an_existing_owner_is_reused(engine, tmp_path):
    import_contacts(engine, DATA / "contacts.csv")
    users_before = user_emails(engine)
    import_contacts(engine, write_csv(tmp_path, "email,owner_email\nx@client.example,rep.two@sales.example\n"))
    assert user_emails(engine) == users_before


# --------------------------------------------------------------------------- rejections


def test_bad_contacts_file_is_rejected_with_every_bad_row_and_nothing_written(engine):
    with pytest.raises(ImportRejected) as rejected:
        import_contacts(engine, DATA / "contacts_bad.csv")

    report = rejected.value.report
    # Line numbers are the file's physical lines: a blank line 8, a quoted cell spanning lines 9-10.
    assert errors_of(report) == [
        (3, "email"), (4, "email"), (5, "secondary_email"), (6, "email"),
        (7, "external_id"), (11, None), (12, "owner_email"),
    ]
    assert reason_at(report, 3, "email") == "missing email"
    assert reason_at(report, 4, "email") == "malformed email 'bob@'"
    assert reason_at(report, 5, "secondary_email") == "malformed email 'carol@'"
    assert reason_at(report, 6, "email") == "duplicate email 'good@example.com' (first on line 2)"
    assert reason_at(report, 7, "external_id") == "duplicate external_id 'G-1' (first on line 2)"
    assert reason_at(report, 11, None) == "expected 5 fields as in the header, found 6"
    assert reason_at(report, 12, "owner_email") == "malformed email 'owner@@sales.example'"
    assert report.skipped == 7
    # Not even the owner of the good row on line 2 was created.
    assert counts(engine) == {"contacts": 0, "deals": 0, "crm_users": 0, "category_changes": 0}


def test_bad_deals_file_is_rejected_with_every_bad_row_and_nothing_written(crm):
    before = counts(crm)
    renewal = deal_by_external_id(crm, "D-1")

    with pytest.raises(ImportRejected) as rejected:
        import_deals(crm, DATA / "deals_bad.csv")

    report = rejected.value.report
    assert errors_of(report) == [
        (3, "closing_date"), (4, "amount"), (5, "contact_external_id"), (6, "contact_email"),
        (7, "contact_email"), (8, "stage"), (9, "external_id"), (11, "name"), (12, None), (13, "name"),
    ]
    assert reason_at(report, 3, "closing_date") == "unparseable date '28/11/2026': expected YYYY-MM-DD"
    assert reason_at(report, 4, "amount") == "unparseable amount '1,000': expected a number like 1234.50"
    assert reason_at(report, 5, "contact_external_id") == "unknown contact: no contact has external_id 'C-99'"
    assert reason_at(report, 6, "contact_email") == "unknown contact: no contact has email 'nobody@nowhere.example'"
    assert reason_at(report, 7, "contact_email") == "missing contact_email or contact_external_id"
    assert reason_at(report, 8, "stage") == "missing stage"
    assert reason_at(report, 9, "external_id") == "duplicate external_id 'D-1' (first on line 2)"
    assert reason_at(report, 11, "name").startswith("duplicate deal 'Twice' for this contact (first on line 10)")
    assert reason_at(report, 12, None) == "expected 7 fields as in the header, found 4"
    assert reason_at(report, 13, "name") == "missing name"
    # The good row on line 2 would have changed D-1's stage: it did not.
    assert counts(crm) == before
    assert deal_by_external_id(crm, "D-1").stage == renewal.stage == "Negotiation"


@pytest.mark.parametrize(
    ("importer", "header", "column", "reason"),
    [
        (import_contacts, "first_name,last_name", "email", "missing required column email in the header"),
        (import_deals, "external_id,contact_email,stage", "name", "missing required column name in the header"),
        (import_deals, "name,stage,contact", "contact_email",
         "missing required column contact_email or contact_external_id in the header"),
        (import_deals, "name,contact_email", "stage", "missing required column stage in the header"),
    ],
)
def test_missing_required_column_rejects_at_line_1(engine, tmp_path, importer, header, column, reason):
    path = write_csv(tmp_path, f"{header}\nsome,values,here\n")
    # Even skip_invalid cannot import a file without its key columns.
    with pytest.raises(ImportRejected) as rejected:
        importer(engine, path, skip_invalid=True)
    assert rejected.value.report.errors == [RowError(1, column, reason)]
    assert counts(engine) == {"contacts": 0, "deals": 0, "crm_users": 0, "category_changes": 0}


def test_empty_and_non_utf8_files_are_rejected(engine, tmp_path):
    with pytest.raises(ImportRejected) as empty:
        import_contacts(engine, write_csv(tmp_path, "\n\n", "empty.csv"))
    assert empty.value.report.errors[0].line == 1

    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("email,first_name\na@example.com,Ann\nb@example.com,Zoë\n".encode("latin-1"))
    with pytest.raises(ImportRejected) as rejected:
        import_contacts(engine, latin1)
    [error] = rejected.value.report.errors
    assert error.line == 3 and "not UTF-8" in error.reason
    assert counts(engine)["contacts"] == 0


def test_rejection_message_and_error_listing_are_what_the_cli_prints(engine):
    with pytest.raises(ImportRejected) as rejected:
        import_contacts(engine, DATA / "contacts_bad.csv")

    summary = str(rejected.value)
    assert "\n" not in summary
    assert summary == (
        "contacts_bad.csv: contacts import rejected, 7 bad rows (first: line 3, column email: missing email); "
        "nothing was imported"
    )
    lines = format_errors(rejected.value.report).splitlines()
    assert len(lines) == 7
    assert lines[1] == "line 4, column email: malformed email 'bob@'"
    assert lines[5] == "line 11: expected 5 fields as in the header, found 6"


# --------------------------------------------------------------------------- skip_invalid


def test_skip_invalid_imports_the_good_rows_and_reports_the_bad_ones(engine):
    report = import_contacts(engine, DATA / "contacts_bad.csv", skip_invalid=True)

    assert (report.created, report.updated, report.unchanged, report.skipped) == (2, 0, 0, 7)
    assert [error.line for error in report.errors] == [3, 4, 5, 6, 7, 11, 12]
    assert contact_by_email(engine, "good@example.com").external_id == "G-1"
    assert contact_by_email(engine, "erin@example.com").first_name == "Erin\nMulti"
    assert contact_by_email(engine, "gina@example.com") is None
    assert counts(engine)["contacts"] == 2
    assert user_emails(engine) == {"new.owner@sales.example"}


def test_skip_invalid_deals(crm):
    changes_before = category_change_contacts(crm)
    report = import_deals(crm, DATA / "deals_bad.csv", skip_invalid=True)

    # Line 2 repeats D-1 as it is; line 10 is a new deal for C-3.
    assert (report.created, report.updated, report.unchanged, report.skipped) == (1, 0, 1, 10)
    chloe = contact_id(crm, "C-3")
    assert report.changed_contact_ids == {chloe}
    assert category_change_contacts(crm) == sorted(changes_before + [chloe])
    assert deal_by_external_id(crm, "D-2").name == "Acme pilot"  # line 3 (bad date) left it alone


# --------------------------------------------------------------------------- encoding, case, spacing


def test_bom_case_and_whitespace(engine, tmp_path):
    contacts = tmp_path / "contacts.csv"
    contacts.write_bytes(
        "\ufeffEMAIL , Secondary Email ,First-Name\r\n"
        "  Mia.Wong@Example.COM ,  MIA@Wong.Example ,  Mia  \r\n"
        " , , \r\n"
        "\r\n".encode("utf-8")
    )
    report = import_contacts(engine, contacts)
    assert (report.created, report.skipped) == (1, 0)
    mia = contact_by_email(engine, "mia.wong@example.com")
    assert (mia.secondary_email, mia.first_name) == ("mia@wong.example", "Mia")

    deals = tmp_path / "deals.csv"
    deals.write_bytes(
        "\ufeffName,Contact_Email,Stage,Amount\n"
        "Starter, MIA@wong.EXAMPLE ,  Qualification ,  250.5 \n".encode("utf-8")
    )
    assert import_deals(engine, deals).created == 1
    with session_scope(engine) as session:
        deal = session.exec(select(Deal)).one()
    assert (deal.contact_id, deal.stage, deal.amount) == (mia.id, "Qualification", Decimal("250.50"))


# --------------------------------------------------------------------------- large files and progress


def test_a_20k_row_file_imports_in_one_go(engine, tmp_path, capsys):
    rows = 20_000
    owners = [f"rep{n}@sales.example" for n in range(25)]
    contacts = tmp_path / "contacts.csv"
    contacts.write_text(
        "external_id,email,first_name,owner_email\n"
        + "".join(f"C{n},person{n}@client.example,Person {n},{owners[n % 25]}\n" for n in range(rows))
    )
    deals = tmp_path / "deals.csv"
    deals.write_text(
        "external_id,name,contact_external_id,stage,closing_date,amount\n"
        + "".join(f"D{n},Deal {n},C{n},Proposal,2026-12-{n % 28 + 1:02d},{n}.25\n" for n in range(rows))
    )

    heard = []
    assert import_contacts(engine, contacts, progress=lambda *told: heard.append(told)).created == rows
    assert import_deals(engine, deals).created == rows
    # How far it came, told to the caller: every row checked, then every row written.
    assert heard[0] == ("checking", 0, rows) and ("checking", rows, rows) in heard
    assert heard[-1] == ("writing", rows, rows)
    assert [stage for stage, _, _ in heard] == sorted(stage for stage, _, _ in heard)  # checking, then writing

    # A re-import touching one row in a thousand.
    deals.write_text(
        "external_id,name,contact_external_id,stage,closing_date,amount\n"
        + "".join(
            f"D{n},Deal {n},C{n},{'Closed Won' if n % 1000 == 0 else 'Proposal'},2026-12-{n % 28 + 1:02d},{n}.25\n"
            for n in range(rows)
        )
    )
    report = import_deals(engine, deals)
    assert (report.created, report.updated, report.unchanged) == (0, 20, rows - 20)
    assert len(report.changed_contact_ids) == 20
    assert capsys.readouterr().err == ""  # the store draws no bar of its own
    assert counts(engine) == {"contacts": rows, "deals": rows, "crm_users": 25, "category_changes": rows + 20}


def test_statements_do_not_grow_with_rows(engine, tmp_path):
    """Existing keys are loaded in chunks and rows written in bulk: no query per row."""
    statements = []
    sa.event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    rows = 3000
    contacts = tmp_path / "contacts.csv"
    contacts.write_text("email,secondary_email,owner_email\n" + "".join(
        f"p{n}@client.example,p{n}@home.example,rep{n % 3}@sales.example\n" for n in range(rows)
    ))
    deals = tmp_path / "deals.csv"
    deals.write_text("name,contact_email,stage\n" + "".join(f"Deal,p{n}@client.example,Proposal\n" for n in range(rows)))

    assert import_contacts(engine, contacts).created == rows
    assert import_deals(engine, deals).created == rows
    contacts.write_text(contacts.read_text().replace("@home.", "@house."))
    assert import_contacts(engine, contacts).updated == rows

    assert len(statements) < 120, f"{len(statements)} statements for {rows} rows"
