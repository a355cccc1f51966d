"""/metrics is not for whoever reaches the public port (SPEC §6, issue 19): it is served on METRICS_PORT, a
listener of its own, or on the public port behind `Authorization: Bearer METRICS_TOKEN`; with neither set the
public port refuses it. What it shows (how many mailboxes, which Gmail methods fail, the replica's name) helps
an attacker plan."""
from __future__ import annotations

import urllib.error
import urllib.request

from testsupport.stack import METRICS_TOKEN, free_port, start_stack


def get(url: str, token: str | None = None) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=15) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_metrics_on_the_public_port_need_the_bearer_token(stack):
    url = f"{stack.server.url}/metrics"
    for token in (None, "", "wrong-token-of-the-same-size!", METRICS_TOKEN[:-1], METRICS_TOKEN + "x"):
        status, body = get(url, token)
        assert status == 401 and "mailmagnet_" not in body, (token, status)
    status, body = get(url, METRICS_TOKEN)
    assert status == 200 and "mailmagnet_mailboxes" in body


def test_without_metrics_port_or_token_the_public_port_refuses_metrics(tmp_path):
    stack = start_stack(f"sqlite:///{tmp_path / 'db.sqlite'}", metrics_token=None)
    try:
        status, body = get(f"{stack.server.url}/metrics")
        assert status == 403 and "METRICS_PORT" in body and "mailmagnet_" not in body
    finally:
        stack.stop()


def test_metrics_port_serves_metrics_apart_and_the_public_port_does_not(tmp_path):
    port = free_port()
    stack = start_stack(f"sqlite:///{tmp_path / 'db.sqlite'}", metrics_token=None, metrics_port=port)
    try:
        status, body = get(f"http://127.0.0.1:{port}/metrics")
        assert status == 200 and "mailmagnet_mailboxes" in body
        status, body = get(f"{stack.server.url}/metrics", METRICS_TOKEN)
        assert status == 404 and "mailmagnet_" not in body
    finally:
        stack.stop()
