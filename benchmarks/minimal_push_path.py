"""The push path with nothing but the calls: the baseline of `capacity.cpu_over_minimal` (SPEC §8).

What `serve` does for a Gmail push, written as plainly as the same libraries allow and with no database: receive
the Pub/Sub push over HTTP, `history.list` from the mailbox's cursor (kept in memory), the new messages' metadata in
one `/batch` (googleapiclient's `BatchHttpRequest`, format=metadata, the product's headers), one `chat.postMessage`
per message from a CRM contact (slack_sdk's `WebClient` and Block Kit models, an alert of the product's shape with
its metadata), and the product's label filing: each mailbox's label run every LABEL_INTERVAL_SECONDS (a
`history.list`, then one `batchModify` for the messages waiting, or one `modify` each below Gmail's batch
threshold). The contacts are a set in memory; the cursors and what waits to be filed are dicts.

It runs as its own process, so /proc gives its CPU alone:

    python -m benchmarks.minimal_push_path CONFIG.json

With "store" (a SQLite file's path) in CONFIG it also keeps, durably, the rows a push run of `serve` keeps
(benchmarks/minimal_store.py): the baseline of `capacity.cpu_over_minimal_with_store`.

CONFIG names the emulators, the port to serve pushes on, the mailboxes (address, access token, Slack user, history
id, label id), the contacts and the label interval. It prints one JSON line once it listens ({"ready": port}) and,
on SIGTERM, one with what it did ({"alerts": n, "errors": n, ...}).
"""
from __future__ import annotations

import base64
import json
import logging
import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from email.utils import getaddresses, parseaddr
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import google_auth_httplib2
import httplib2
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build
from googleapiclient.http import BatchHttpRequest
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler
from slack_sdk.models.blocks import ActionsBlock, ButtonElement, MarkdownTextObject, SectionBlock

log = logging.getLogger("minimal_push_path")

HEADERS = ["From", "To", "Cc", "Subject", "Date", "Message-ID"]  # what the product asks for
HISTORY_TYPES = ["messageAdded", "labelAdded", "labelRemoved"]
BATCH_MODIFY_THRESHOLD = 10  # the product's: below it, one modify per message


@dataclass
class Mailbox:
    account_id: int
    address: str
    token: str
    slack_user: str
    cursor: int
    label_id: str
    next_label_run: float
    lock: threading.Lock = field(default_factory=threading.Lock)
    running: bool = False
    again: bool = False
    to_file: list[str] = field(default_factory=list)


class MinimalPushPath:
    def __init__(self, config: dict):
        self.api_root = config["gmail_api_url"].rstrip("/") + "/"
        self.batch_url = self.api_root + "batch/gmail/v1"
        self.contacts = {a.lower() for a in config["contacts"]}
        self.label_interval = float(config["label_interval_seconds"])
        now = time.monotonic()
        self.mailboxes = {
            m["address"]: Mailbox(m["account_id"], m["address"], m["token"], m["slack_user"], int(m["history_id"]),
                                  m["label_id"], now + m["first_label_run_in"])
            for m in config["mailboxes"]}
        self.slack = WebClient(token=config["slack_token"], base_url=config["slack_api_url"], timeout=15,
                               retry_handlers=[ConnectionErrorRetryHandler(), RateLimitErrorRetryHandler(3)])
        self.pool = ThreadPoolExecutor(config.get("workers", 48), thread_name_prefix="push")
        self._local = threading.local()
        self._count_lock = threading.Lock()
        self.counts = {"pushes": 0, "alerts": 0, "errors": 0, "label_runs": 0, "filed": 0}
        self._stopping = threading.Event()
        # The "with store" variant (benchmarks/minimal_store.py): the rows a push run keeps, in SQLite.
        self.store = None
        if config.get("store"):
            from benchmarks.minimal_store import MinimalStore

            self.store = MinimalStore(config["store"], config["mailboxes"], sorted(self.contacts))

    def _count(self, key: str, n: int = 1) -> None:
        with self._count_lock:
            self.counts[key] += n

    # -- Gmail, one httplib2 connection and one discovery-built service per thread (httplib2 is not thread-safe)

    def _gmail(self):
        parts = getattr(self._local, "parts", None)
        if parts is None:
            http = httplib2.Http(timeout=30)
            service = build("gmail", "v1", http=http, static_discovery=True, cache_discovery=False,
                            client_options={"api_endpoint": self.api_root})
            users = service.users()
            parts = self._local.parts = (http, users.history(), users.messages())
        return parts

    def _authed(self, mailbox: Mailbox, http):
        return google_auth_httplib2.AuthorizedHttp(Credentials(token=mailbox.token), http=http)

    # -- a push --------------------------------------------------------------------------------

    def push(self, envelope: dict) -> None:
        try:
            data = json.loads(base64.b64decode(envelope["message"]["data"]))
            mailbox = self.mailboxes.get(str(data["emailAddress"]).lower())
            history_id = int(data["historyId"])
        except (KeyError, TypeError, ValueError):
            return
        if mailbox is None or history_id <= mailbox.cursor:
            return
        self._count("pushes")
        self._start(mailbox)

    def _start(self, mailbox: Mailbox, label_run: bool = False) -> bool:
        with mailbox.lock:
            if mailbox.running:
                mailbox.again = mailbox.again or not label_run
                return False
            mailbox.running = True
        self.pool.submit(self._run, mailbox, label_run)
        return True

    def _run(self, mailbox: Mailbox, label_run: bool) -> None:
        while True:
            try:
                if self.store is not None:
                    self._stored_sync(mailbox)
                else:
                    self._sync(mailbox)
                if label_run:
                    self._file(mailbox)
            except Exception:  # noqa: BLE001 - counted; the next push tries again
                log.exception("mailbox %s", mailbox.address)
                self._count("errors")
            label_run = False
            with mailbox.lock:
                if not mailbox.again:
                    mailbox.running = False
                    return
                mailbox.again = False

    def _stored_sync(self, mailbox: Mailbox) -> None:
        """The same run, with the lease, the open's read, the sync's transaction and the release written."""
        if not self.store.claim(mailbox.account_id):
            return
        posted: list[tuple[int, str]] = []
        try:
            self.store.open(mailbox.account_id)
            cursor, new = self._read(mailbox)
            rows = []
            for gmail_id, message, headers in new:
                senders = [address.lower() for _, address in getaddresses([headers.get("from", "")])]
                contact = next((a for a in senders if a in self.contacts), None)
                rows.append((message, contact or (senders[0] if senders else ""), contact is not None))
            alert_ids = self.store.record(mailbox.account_id, cursor, rows)
            for gmail_id, message, headers in new:
                if gmail_id in alert_ids:
                    ts = self._post_alert(mailbox, gmail_id, message, headers)
                    posted.append((alert_ids[gmail_id], ts))
                    if "INBOX" in message.get("labelIds", []):
                        mailbox.to_file.append(gmail_id)
            mailbox.cursor = cursor
        finally:
            self.store.release(mailbox.account_id, posted, 2 + 5 * len(posted))

    def _sync(self, mailbox: Mailbox) -> None:
        cursor, new = self._read(mailbox)
        for gmail_id, message, headers in new:
            senders = [address.lower() for _, address in getaddresses([headers.get("from", "")])]
            if not self.contacts.intersection(senders):
                continue
            self._post_alert(mailbox, gmail_id, message, headers)
            if "INBOX" in message.get("labelIds", []):
                mailbox.to_file.append(gmail_id)
        mailbox.cursor = cursor

    def _read(self, mailbox: Mailbox) -> tuple[int, list[tuple[str, dict, dict]]]:
        """history.list from the cursor, then the new messages' metadata: (the new cursor, [(id, message,
        headers)])."""
        http, history, messages = self._gmail()
        authed = self._authed(mailbox, http)
        added: list[str] = []
        cursor, page_token = mailbox.cursor, None
        while True:
            params = dict(userId="me", startHistoryId=str(mailbox.cursor), historyTypes=HISTORY_TYPES,
                          labelId="INBOX", maxResults=500)
            if page_token:
                params["pageToken"] = page_token
            response = history.list(**params).execute(http=authed)
            for record in response.get("history", []):
                for item in record.get("messagesAdded", []):
                    if "INBOX" in item["message"].get("labelIds", []):
                        added.append(item["message"]["id"])
            cursor = int(response["historyId"])
            page_token = response.get("nextPageToken")
            if not page_token:
                break
        found: dict[str, dict] = {}
        for start in range(0, len(added), 50):
            batch = BatchHttpRequest(callback=lambda rid, response, error: found.__setitem__(rid, response)
                                     if error is None else None, batch_uri=self.batch_url)
            for gmail_id in added[start:start + 50]:
                batch.add(messages.get(userId="me", id=gmail_id, format="metadata", metadataHeaders=HEADERS),
                          request_id=gmail_id)
            batch.execute(http=authed)
        new = []
        for gmail_id in added:
            message = found.get(gmail_id)
            if message is None:
                continue
            headers = {h["name"].lower(): h["value"] for h in message.get("payload", {}).get("headers", [])}
            new.append((gmail_id, message, headers))
        return cursor, new

    def _post_alert(self, mailbox: Mailbox, gmail_id: str, message: dict, headers: dict) -> str:
        name, address = parseaddr(headers.get("from", ""))
        who = name or address
        reference = json.dumps({"a": mailbox.account_id, "g": gmail_id})
        blocks = [
            SectionBlock(text=MarkdownTextObject(text=f":envelope_with_arrow: *New email from {who}* to "
                                                      f"<@{mailbox.slack_user}>")),
            SectionBlock(fields=[MarkdownTextObject(text=f"*Contact*\n{who}\n{address}"),
                                 MarkdownTextObject(text="*Company*\n—")]),
            SectionBlock(text=MarkdownTextObject(text=f"*Subject:* {headers.get('subject', '')}\n"
                                                      f">{message.get('snippet', '')[:500]}")),
            ActionsBlock(block_id=f"alert_actions_{gmail_id}", elements=[
                ButtonElement(text="View contact", action_id="alert_view_contact", value=reference),
                ButtonElement(text="Reply", action_id="alert_reply", value=reference, style="primary"),
                ButtonElement(text="Open in Gmail", action_id="alert_open_gmail",
                              url=f"https://mail.google.com/mail/#all/{message.get('threadId', gmail_id)}"),
            ]),
        ]
        response = self.slack.chat_postMessage(
            channel=mailbox.slack_user, text=f"New email from {who}", blocks=[b.to_dict() for b in blocks],
            metadata={"event_type": "mailmagnet_alert",
                      "event_payload": {"account_id": mailbox.account_id, "gmail_id": gmail_id}},
            unfurl_links=False, unfurl_media=False)
        self._count("alerts")
        return response["ts"]

    # -- the label run -------------------------------------------------------------------------

    def _file(self, mailbox: Mailbox) -> None:
        waiting, mailbox.to_file = mailbox.to_file, []
        self._count("label_runs")
        if not waiting:
            return
        http, _, messages = self._gmail()
        authed = self._authed(mailbox, http)
        if len(waiting) >= BATCH_MODIFY_THRESHOLD:
            messages.batchModify(userId="me", body={"ids": waiting, "addLabelIds": [mailbox.label_id],
                                                    "removeLabelIds": ["INBOX"]}).execute(http=authed)
        else:
            for gmail_id in waiting:
                messages.modify(userId="me", id=gmail_id, body={"addLabelIds": [mailbox.label_id],
                                                                "removeLabelIds": ["INBOX"]}).execute(http=authed)
        self._count("filed", len(waiting))

    def label_runs(self) -> None:
        """Each mailbox's label run every label interval (the product's LABEL_INTERVAL_SECONDS); a mailbox busy
        with a push gets it on the next look."""
        while not self._stopping.wait(1.0):
            now = time.monotonic()
            for mailbox in self.mailboxes.values():
                if mailbox.next_label_run <= now and self._start(mailbox, label_run=True):
                    mailbox.next_label_run += self.label_interval

    def stop(self) -> None:
        self._stopping.set()
        self.pool.shutdown(wait=True)


def serve(path: MinimalPushPath, port: int) -> ThreadingHTTPServer:
    class PushHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                path.push(json.loads(body))
            except ValueError:
                pass
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format, *args) -> None:  # noqa: A002 - http.server's name
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), PushHandler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
    return server


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    with open(argv[0], encoding="utf-8") as handle:
        config = json.load(handle)
    path = MinimalPushPath(config)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    server = serve(path, config["port"])
    threading.Thread(target=path.label_runs, name="label-runs", daemon=True).start()
    print(json.dumps({"ready": config["port"]}), flush=True)
    done.wait()
    server.shutdown()
    path.stop()
    print(json.dumps(path.counts), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
