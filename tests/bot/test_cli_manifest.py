"""`mailmagnet --version` and `mailmagnet manifest`: the Slack app manifest with this deployment's URLs (issue 19);
`demo`, `emulators` and `bench` outside a source checkout: one line saying where they run."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

from bot.manifest import load_manifest, manifest_problems, manifest_urls


def mailmagnet(tmp_path, *args, **settings):
    environment = {key: value for key, value in os.environ.items()
                   if key not in ("PUBLIC_URL", "DATABASE_URL", "PYTHONPATH")}
    environment.update(DATABASE_URL=f"sqlite:///{tmp_path / 'cli.db'}", **settings)
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], capture_output=True, text=True, cwd=tmp_path,
                          env=environment, timeout=120)


def test_version_prints_the_installed_version(tmp_path):
    from importlib.metadata import version

    result = mailmagnet(tmp_path, "--version")
    assert result.returncode == 0 and result.stdout.strip() == f"mailmagnet {version('mailmagnet')}"


@pytest.mark.parametrize("as_json", [False, True])
def test_manifest_has_every_slack_url_on_the_public_url(tmp_path, as_json):
    result = mailmagnet(tmp_path, "manifest", "--public-url", "https://mm.example.com/", *(["--json"] * as_json))
    assert result.returncode == 0, result.stderr
    manifest = json.loads(result.stdout) if as_json else yaml.safe_load(result.stdout)
    assert manifest_problems(manifest) == []
    assert manifest_urls(manifest) == {
        "slash_commands": ["https://mm.example.com/slack/events"] * len(manifest["features"]["slash_commands"]),
        "interactivity": ["https://mm.example.com/slack/events"],
        "events": ["https://mm.example.com/slack/events"],
        "oauth_redirect": ["https://mm.example.com/slack/oauth_redirect"],
    }
    # Everything else is app.yaml's: the commands, scopes and events the code relies on.
    original = load_manifest()
    assert manifest["oauth_config"]["scopes"] == original["oauth_config"]["scopes"]
    assert [c["command"] for c in manifest["features"]["slash_commands"]] == \
        [c["command"] for c in original["features"]["slash_commands"]]


def test_manifest_defaults_to_public_url_and_keeps_its_path(tmp_path):
    result = mailmagnet(tmp_path, "manifest", "--json", PUBLIC_URL="https://crm.example.org/mailmagnet")
    assert result.returncode == 0, result.stderr
    urls = manifest_urls(json.loads(result.stdout))
    assert urls["events"] == ["https://crm.example.org/mailmagnet/slack/events"]
    assert urls["oauth_redirect"] == ["https://crm.example.org/mailmagnet/slack/oauth_redirect"]


@pytest.mark.parametrize("url", ["http://mm.example.com", "https://", "https://mm.example.com/?x=1", "mm.example.com"])
def test_a_url_slack_would_refuse_is_one_line_naming_it(tmp_path, url):
    result = mailmagnet(tmp_path, "manifest", "--public-url", url)
    assert result.returncode == 1 and result.stdout == ""
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("mailmagnet: public URL") and repr(url) in line


def test_the_default_loopback_public_url_is_refused(tmp_path):
    result = mailmagnet(tmp_path, "manifest")
    assert result.returncode == 1 and "https://" in result.stderr and "PUBLIC_URL" in result.stderr


@pytest.mark.parametrize("command", ["demo", "emulators", "bench"])
def test_dev_only_commands_outside_a_checkout_say_where_they_run(tmp_path, command):
    # cwd is not the checkout and nothing puts it on the path: as from the installed wheel, the emulators, the
    # harness and the benchmarks are not importable.
    result = mailmagnet(tmp_path, command)
    assert result.returncode == 1 and result.stdout == ""
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"mailmagnet: `{command}` runs from the root of a source checkout"), line


def test_the_installed_command_runs_a_dev_only_command_from_the_checkouts_root():
    # The console script's path starts at its own directory (the venv's bin/), not the working one: the checkout's
    # root must still be found, as the README says `mailmagnet emulators` works there.
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    command = os.path.join(os.path.dirname(sys.executable), "mailmagnet")
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    process = subprocess.Popen([command, "emulators", "--gmail-port", "0", "--slack-port", "0"], cwd=root,
                               env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = process.stdout.readline()
    finally:
        process.kill()
        _, errors = process.communicate(timeout=30)
    assert first.startswith("Gmail + Google OAuth emulator: http://127.0.0.1:"), (first, errors)
