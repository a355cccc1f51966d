"""HTTP routing for SlackEmulator: /api/<method>, /oauth/v2/authorize, /response/<key>, the files upload
URLs (/upload/v1/<ticket>) and file downloads (/files-pri/…), and the Socket Mode WebSocket upgrade on /link/."""
from __future__ import annotations

import json
import logging
import socket
import struct
import time
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .faults import NoAnswer

logger = logging.getLogger(__name__)


class SlackEmulatorHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "SlackEmulator/1.0"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - BaseHTTPRequestHandler's name
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._route("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._route("POST")

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(payload).encode("utf-8"), "application/json; charset=utf-8", headers)

    def _route(self, verb: str) -> None:
        emulator = self.server.emulator  # type: ignore[attr-defined]
        parts = urlsplit(self.path)
        path = parts.path
        if path in ("/link", "/link/") and verb == "GET" and self.headers.get("Upgrade"):
            self._upgrade(emulator, parts.query)
            return
        try:
            body = self._read_body()
            if path.startswith("/api/"):
                try:
                    status, headers, payload = emulator._handle_api(path[len("/api/"):], self.headers, parts.query,
                                                                    body)
                except NoAnswer as lost:
                    self._hang_up(emulator, lost)
                    return
                self._send_json(status, payload, headers)
            elif path == "/oauth/v2/authorize" and verb == "GET":
                query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
                status, headers, text = emulator._authorize(query)
                self._send(status, text.encode("utf-8"), "text/plain; charset=utf-8", headers)
            elif path.startswith("/response/") and verb == "POST":
                key = path[len("/response/"):]
                latency_ms = emulator._latency.draw_ms("response_url")
                emulator._call_started()
                try:
                    if latency_ms:
                        time.sleep(latency_ms / 1000.0)
                    status, payload = emulator._post_to_response_url(
                        key, body, self.headers.get("Content-Type") or ""
                    )
                finally:
                    emulator._call_finished()
                self._send_json(status, payload)
            elif path.startswith("/upload/v1/") and verb == "POST":
                status, text = emulator._receive_upload(path[len("/upload/v1/"):], self.headers, body)
                self._send(status, text.encode("utf-8"), "text/plain; charset=utf-8")
            elif path.startswith("/files-pri/") and verb == "GET":
                status, content, content_type = emulator._download_file(path, self.headers)
                self._send(status, content, content_type)
            elif path in ("/", "/healthz") and verb == "GET":
                self._send(200, b"ok", "text/plain; charset=utf-8")
            else:
                self._send(404, b"not found", "text/plain; charset=utf-8")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception:  # noqa: BLE001 - answer like Slack's fatal_error instead of dropping the socket
            logger.exception("slack emulator failed on %s %s", verb, path)
            self._send_json(500, {"ok": False, "error": "fatal_error"})

    def _hang_up(self, emulator: Any, lost: NoAnswer) -> None:
        """No answer: after `hang_seconds` (a client that waits less times out first), close the connection, or
        reset it (SO_LINGER 0 makes the close send RST instead of FIN)."""
        if lost.hang_seconds:
            emulator._stopping.wait(lost.hang_seconds)
        self.close_connection = True
        try:
            if lost.reset:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            else:
                self.connection.shutdown(socket.SHUT_RDWR)
            # The buffered reader holds the socket open: close it too so the close (and its RST) happens now.
            self.rfile.close()
            self.connection.close()
        except OSError:
            pass

    def _upgrade(self, emulator: Any, query: str) -> None:
        try:
            emulator.socket_mode.serve_upgrade(self, query)
        except (OSError, ValueError):  # the app went away mid-handshake
            pass
        except Exception:  # noqa: BLE001 - never answer an upgraded socket with an HTTP error page
            logger.exception("slack emulator: Socket Mode connection failed")
        self.close_connection = True
