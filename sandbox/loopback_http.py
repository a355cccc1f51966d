"""The HTTP plumbing the Gmail and Zoho emulators share: a threaded server on loopback that can close every
open connection when it stops, a handler that answers in one write, and start/stop/port for the emulator.

Why not plain `ThreadingHTTPServer`: keep-alive connections of a stopped emulator would otherwise stay open
(clients would hang instead of failing fast), the default backlog of 5 resets connections when benchmarks
open many at once, and a response written as headers then body meets Nagle's algorithm and the client's
delayed ACK (40 ms per call).
"""

from __future__ import annotations

import json
import logging
import signal
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Mapping

log = logging.getLogger(__name__)


class LoopbackServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256
    block_on_close = False

    def __init__(self, address, handler):
        self.connections: set[socket.socket] = set()
        super().__init__(address, handler)

    def close_all(self) -> None:
        """Stop serving and cut the connections still open, so their clients see a closed socket at once."""
        self.shutdown()
        for connection in list(self.connections):
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.server_close()


class TrackedHandler(BaseHTTPRequestHandler):
    """Keep-alive, registered with its server while open, one write per response."""

    protocol_version = "HTTP/1.1"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read the emulator's calls instead
        log.debug("%s " + format, self.address_string(), *args)

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.connections.add(self.connection)  # type: ignore[attr-defined]

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.connections.discard(self.connection)  # type: ignore[attr-defined]

    def drop_connection(self) -> None:
        """No answer at all: what a dropped connection looks like to the client."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def write_response(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        has_body = status not in (204, 304)
        if has_body:
            self.send_header("Content-Length", str(len(body)))
        self._headers_buffer.append(b"\r\n")  # type: ignore[attr-defined]
        if has_body and self.command != "HEAD":
            self._headers_buffer.append(body)  # type: ignore[attr-defined]
        self.flush_headers()


class LoopbackService:
    """start/stop/port/context manager for an emulator served by a `LoopbackServer` on its own thread."""

    host: str
    _requested_port: int
    _stopping: threading.Event
    _server: LoopbackServer | None = None
    _thread: threading.Thread | None = None

    def _serve(self, handler: type[TrackedHandler], name: str) -> None:
        self._stopping.clear()
        self._server = LoopbackServer((self.host, self._requested_port), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=name, daemon=True)
        self._thread.start()

    def _close(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.close_all()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def start(self):  # pragma: no cover - each emulator defines it
        raise NotImplementedError

    def stop(self) -> None:  # pragma: no cover - each emulator defines it
        raise NotImplementedError

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the emulator is not started")
        return self._server.server_address[1]


def serve_in_foreground(emulator: LoopbackService, settings: Callable[[], dict[str, Any]]) -> int:
    """`python -m sandbox.<emulator>`: start, print the settings that point the bot at it as one JSON line
    (scripts read it), serve until SIGTERM or Ctrl-C, stop."""
    # The handler first: whoever reads the settings line may send SIGTERM at once.
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        emulator.start()
    except OSError as exc:
        print(f"cannot listen on {emulator.host}:{emulator._requested_port}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(settings()), flush=True)
    try:
        done.wait()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()
    return 0
