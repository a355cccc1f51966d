"""The CLI as a user runs it: a real process, the database from DATABASE_URL."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from tests.support.cli import run_cli


@pytest.fixture
def crm_files(tmp_path):
    contacts = tmp_path / "contacts.csv"
    contacts.write_text(
        "email,first_name,last_name,company,external_id,owner_email\n"
        "jane@acme.example,Jane,Doe,Acme,C1,alice@crm.example\n"
        "bob@globex.example,Bob,Smith,Globex,C2,\n"
    )
    deals = tmp_path / "deals.csv"
    deals.write_text(
        "name,contact_external_id,stage,closing_date,amount,external_id\n"
        "Renewal,C1,Negotiation,2026-11-28,1000,D1\n"
        "Pilot,C2,Closed Won,2026-02-01,500,D2\n"
    )
    return contacts, deals


def test_import_then_explain_json(database_url, crm_files):
    contacts, deals = crm_files
    assert run_cli(database_url, "import", "contacts", str(contacts)).returncode == 0
    result = run_cli(database_url, "import", "deals", str(deals))
    assert result.returncode == 0, result.stderr
    assert "2 created" in result.stdout
    out = run_cli(database_url, "explain", '"Jane" <Jane@Acme.example>', "--as-of", "2026-11-10",
                  "--tz", "Europe/Paris", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert set(data) == {"sender", "address", "contact", "category", "deals", "reason"}
    assert data["category"] == "Deals Closing This Month" and data["address"] == "jane@acme.example"
    december = run_cli(database_url, "explain", "jane@acme.example", "--as-of", "2026-12-01T00:30",
                       "--tz", "UTC")
    assert december.returncode == 0 and december.stdout.startswith("Open Deals:")
    customers = json.loads(run_cli(database_url, "explain", "bob@globex.example", "--json").stdout)
    assert customers["category"] == "Customers"


def test_rejected_import_lists_rows_and_exits_non_zero(database_url, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("email,first_name\nok@x.example,Ok\nnot-an-email,Bad\n")
    result = run_cli(database_url, "import", "contacts", str(bad))
    assert result.returncode != 0
    assert "line 3" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("mailmagnet:")


def test_failures_are_one_line(database_url):
    for args in (["explain", "x@y.example", "--tz", "Mars/Olympus"],
                 ["explain", "x@y.example", "--as-of", "yesterday"],
                 ["import", "contacts", "/nonexistent.csv"],
                 ["users", "revoke", "nobody@x.example"],
                 ["frobnicate"]):
        result = run_cli(database_url, *args)
        assert result.returncode != 0, args
        assert len(result.stderr.strip().splitlines()) == 1, (args, result.stderr)


def test_users_grant_and_revoke(database_url):
    granted = run_cli(database_url, "users", "grant", "Boss@CRM.example", "--admin")
    assert granted.returncode == 0 and "Mail Integration: yes" in granted.stdout and "admin: yes" in granted.stdout
    again = run_cli(database_url, "users", "grant", "boss@crm.example")
    assert "admin: yes" in again.stdout  # granting mail keeps the admin flag
    revoked = run_cli(database_url, "users", "revoke", "boss@crm.example")
    assert revoked.returncode == 0 and "Mail Integration: no" in revoked.stdout


def test_serve_without_slack_settings_says_what_is_missing(database_url):
    result = run_cli(database_url, "serve", "--port", "0", env={"SLACK_BOT_TOKEN": "", "SLACK_SIGNING_SECRET": ""})
    assert result.returncode == 1 and "SLACK_SIGNING_SECRET" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    socket = run_cli(database_url, "serve", "--socket-mode", env={"SLACK_APP_TOKEN": ""})
    assert socket.returncode == 1 and "SLACK_APP_TOKEN" in socket.stderr


def test_emulators_command_serves_both_emulators_until_stopped(tmp_path):
    import json as _json
    import signal
    import time
    import urllib.request

    seed = tmp_path / "seed.json"
    seed.write_text(_json.dumps({"gmail": {"users": ["ann@gmail.example"]},
                                 "slack": {"teams": [{"id": "T9", "name": "Nine", "bot_token": "xoxb-nine",
                                                      "bot_user_id": "U9BOT", "app_token": "xapp-nine"}]}}))
    process = subprocess.Popen([sys.executable, "-m", "bot.cli", "emulators", "--gmail-port", "0", "--slack-port", "0",
                                "--seed", str(seed)], stdout=subprocess.PIPE, text=True)
    try:
        lines = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any("Ctrl-C" in line for line in lines):
            lines.append(process.stdout.readline())
        settings = dict(line.strip().split("=", 1)[0:2] for line in lines if "=" in line and " " not in line.strip())
        assert settings["SLACK_BOT_TOKEN"] == "xoxb-nine"
        with urllib.request.urlopen(settings["SLACK_API_URL"] + "auth.test?token=xoxb-nine", timeout=10) as answer:
            assert _json.loads(answer.read())["team_id"] == "T9"
        assert any("SLACK_APP_TOKEN=xapp-nine" in line for line in lines)
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=15) == 0


def test_import_leads(database_url, tmp_path):
    leads = tmp_path / "leads.csv"
    leads.write_text(
        "email,first_name,company,lead_status,external_id,owner_email\n"
        "pat@prospect.example,Pat,Zylker,Contacted,L1,alice@crm.example\n"
        "alice@crm.example,Alice,Us,New,L2,\n"
    )
    result = run_cli(database_url, "import", "leads", str(leads))
    assert result.returncode == 0, result.stderr
    # The owner's own address is never a lead: skipped and reported, the other row imported.
    assert "leads: 1 created" in result.stdout and "1 skipped" in result.stdout
    out = json.loads(run_cli(database_url, "explain", "pat@prospect.example", "--json").stdout)
    assert out["contact"] is not None and out["category"] is None


def test_import_draws_a_progress_bar_on_stderr_only_for_large_files(engine, crm_files, capsys):
    from bot.commands.crm_data import ImportProgressBar
    from crm_store.csv_import import import_contacts

    contacts, _ = crm_files
    small = ImportProgressBar("contacts")  # two rows: under the threshold
    import_contacts(engine, contacts, progress=small)
    small.close()
    assert capsys.readouterr().err == ""

    more = contacts.with_name("more.csv")
    more.write_text("email\nann@initech.example\nbea@initech.example\n")
    large = ImportProgressBar("contacts", threshold=1)
    import_contacts(engine, more, progress=large)
    large.close()
    err = capsys.readouterr().err
    assert "contacts: checking" in err and "contacts: writing" in err and err.rstrip().split("\r")[-1].count("2/2")
