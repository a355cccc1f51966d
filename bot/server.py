"""`mailmagnet serve`: the web server (waitress), the Bolt app, the scheduler; clean shutdown on SIGTERM."""
from __future__ import annotations

import logging
import signal
import socket
import threading

from waitress.server import create_server

from bot.runtime_tuning import tune_for_serving
from bot.logs import cap_library_logs
from bot.services import build_services, warn_about_missing_settings
from bot.settings import Settings
from bot.slack_app import create_slack_app, listener_pool
from bot.slack_directory import SlackDirectory
from bot.routes import EXTENSION
from bot.web import create_metrics_app, create_web_app
from crm_store.db import fill_pool
from crm_store.records.results import MAX_REQUEST_BYTES
from bot.services import BotServices

log = logging.getLogger(__name__)


def close_waitress(server, thread: threading.Thread | None, timeout: float) -> None:
    """Stop taking requests, let the loop end, then end the server's worker threads: waitress's close() shuts its
    listening socket and trigger only, and its task threads (HTTP_THREADS of them) would wait forever."""
    closed_by_loop = False
    if thread is not None and thread.is_alive():
        try:
            # Closed from waitress's own loop, which wakes at once instead of at its next 1-second poll.
            server.trigger.pull_trigger(server.close)
            closed_by_loop = True
        except OSError:  # its trigger is gone: close from here
            pass
    if not closed_by_loop:
        server.close()
    if thread is not None:
        thread.join(timeout=timeout)
    # Requests already taken finish first: waitress waits up to `timeout` for its threads to end.
    server.task_dispatcher.shutdown(cancel_pending=True, timeout=timeout)


class BotServer:
    """Everything `serve` runs, startable in-process (tests, benchmarks, demo) or from the CLI."""

    def __init__(self, settings: Settings, *, host: str = "0.0.0.0", port: int | None = None,
                 socket_mode: bool = False, scheduler: bool = True, start_scheduler: bool = True,
                 services: BotServices | None = None):
        self.settings = settings
        cap_library_logs()
        self.services = services or build_services(settings)
        warn_about_missing_settings(self.services)
        for warning in settings.startup_warnings():
            log.warning("%s", warning)
        self.socket_mode = socket_mode
        self.start_scheduler = start_scheduler
        self._listeners = listener_pool(settings)
        self.slack_app = create_slack_app(self.services, settings, socket_mode=socket_mode,
                                          listener_executor=self._listeners)
        if scheduler:
            from bot.jobs import Jobs

            self.services.jobs = Jobs(self.services)
        self.web_app = create_web_app(self.services, None if socket_mode else self.slack_app)
        self._server = create_server(self.web_app, host=host, port=settings.port if port is None else port,
                                     threads=settings.http_threads, ident="mailmagnet",
                                     # Slack posts are small; the CRM ingest API takes up to 2 MiB.
                                     max_request_body_size=MAX_REQUEST_BYTES + 65_536)
        # METRICS_PORT: /metrics on a listener of its own, for a port the load balancer does not expose.
        self._metrics_server = None if settings.metrics_port is None else create_server(
            create_metrics_app(self.services), host=host, port=settings.metrics_port, threads=2,
            ident="mailmagnet-metrics")
        self._metrics_thread: threading.Thread | None = None
        self._thread: threading.Thread | None = None
        self._socket_handler = None

    @property
    def port(self) -> int:
        return self._server.effective_port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "BotServer":
        # Every PostgreSQL connection of the pool opened now, before any thread needs one: the process holds
        # the same DB_POOL_SIZE connections from here on (crm_store/db.py).
        fill_pool(self.services.engine)
        if self.services.directory is not None and not self.settings.multi_workspace:
            # Which workspace the bot token serves (auth.test), learnt now rather than on the first request.
            threading.Thread(target=self.services.directory.workspace_of_token, name="auth-test", daemon=True).start()
        if self.services.jobs is not None and self.start_scheduler:
            self.services.jobs.start()
        if self.socket_mode:
            from slack_bolt.adapter.socket_mode import SocketModeHandler

            self._socket_handler = SocketModeHandler(self.slack_app, self.settings.slack_app_token)
            self._socket_handler.connect()
        self._thread = threading.Thread(target=self._server.run, name="http", daemon=True)
        self._thread.start()
        if self._metrics_server is not None:
            self._metrics_thread = threading.Thread(target=self._metrics_server.run, name="metrics-http", daemon=True)
            self._metrics_thread.start()
        return self

    @property
    def metrics_port(self) -> int | None:
        return None if self._metrics_server is None else self._metrics_server.effective_port

    def stop(self) -> None:
        if self._socket_handler is not None:
            # Unblock the client's pending read first; otherwise close() waits for it to time out.
            session = getattr(self._socket_handler.client, "current_session", None)
            sock = getattr(session, "sock", None)
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self._socket_handler.close()
        if self.services.jobs is not None:
            self.services.jobs.stop()
        close_waitress(self._server, self._thread, timeout=10)
        # Pushes answered past capacity and still waiting: taken now (a stopping scheduler records them).
        self.web_app.extensions[EXTENSION].push_intake.drain(timeout=5)
        if self._metrics_server is not None:
            close_waitress(self._metrics_server, self._metrics_thread, timeout=5)
        from usecases.fanout import shutdown as stop_mailbox_views

        stop_mailbox_views(self.services)
        if isinstance(self.services.directory, SlackDirectory):
            self.services.directory.close()
        # Listeners still running finish on their own; idle threads end (and their Gmail connections close).
        self._listeners.shutdown(wait=False)

    def serve_forever(self) -> None:
        """Run until SIGTERM/SIGINT, then finish in-flight work and stop."""
        stopping = threading.Event()

        def on_signal(signum, _frame):
            log.info("signal %s: shutting down", signum)
            stopping.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        self.start()
        tune_for_serving()  # the interpreter's settings for a long-running server (bot/runtime_tuning.py)
        log.info("MailMagnet listening on port %s%s", self.port, " (Socket Mode)" if self.socket_mode else "")
        stopping.wait()
        self.stop()
