"""The production server process: gunicorn's arbiter and its ``gthread`` workers,
run in-process by ``followups serve`` (see docs/decisions.md, "The server process").

gunicorn gives several processes (``workers``), a thread pool in each
(``threads``), HTTP/1.1 keep-alive with an idle limit (``keepalive``), a cap on
open connections per process (``max_connections``: gunicorn's
``worker_connections``), TLS, a graceful stop on SIGTERM and an arbiter that
replaces a worker that dies.

One thing ``gthread`` does not do: once a connection's first bytes arrive, the
thread that took it reads the rest of the request with no time limit, so a
client that sends half its headers (or its body a byte a minute) holds a thread
for good, and a few such clients hold them all. :class:`RequestClockWorker`
adds a clock: from the moment a thread takes a connection, the client has
``timeout`` seconds to complete the TLS handshake, the headers and the body; the
worker's main loop (which wakes at least once a second) shuts down the socket
of a request still being read after that, and the thread's read ends at once.
The clock stops when the body has been read (or at once for a request without
one), so a slow application or a long response is never cut by it.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from gunicorn.app.base import BaseApplication
from gunicorn.http.body import LengthReader
from gunicorn.http.errors import NoMoreData
from gunicorn.workers.gthread import ThreadWorker

from server.config import Settings

HEARTBEAT = 30
"""Seconds a worker's main loop may go without telling the arbiter it is alive
before the arbiter replaces it (gunicorn's ``timeout``; the main loop reports
every second, whatever its threads are doing)."""


class RequestTooSlow(NoMoreData):
    """The client did not send its whole request within ``timeout`` seconds.

    A :class:`NoMoreData`, which is how gunicorn treats a client that went away:
    the connection is closed and nothing is logged above debug."""

    def __str__(self) -> str:
        return "request not received within the timeout"


class _ClockedReader:
    """A request body's reader that stops the clock once the body is all read, and
    fails a read that ended after the deadline (its socket was shut down: what it
    returned is not the body the client meant, and must not be stored)."""

    def __init__(self, reader: Any, expired: Callable[[], bool], done: Callable[[], None]) -> None:
        self.reader = reader
        self.expired = expired
        self.done = done

    def read(self, size: int) -> bytes:
        data: bytes = self.reader.read(size)
        if self.expired():
            raise RequestTooSlow()
        if not data or getattr(self.reader, "length", None) == 0:
            self.done()
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self.reader, name)


class RequestClockWorker(ThreadWorker):  # type: ignore[misc]
    """gunicorn's ``gthread`` worker with a clock on reading each request (see the
    module's docstring)."""

    def init_process(self) -> None:
        settings = getattr(self.app, "settings", None)  # None under gunicorn's own command line
        self.read_timeout = float(settings.timeout if settings is not None else self.cfg.timeout)
        self.clock_lock = threading.Lock()
        self.deadlines: dict[int, tuple[float, Any]] = {}
        super().init_process()

    def start_clock(self, conn: Any) -> None:
        with self.clock_lock:
            self.deadlines[id(conn)] = (time.monotonic() + self.read_timeout, conn)

    def stop_clock(self, conn: Any) -> None:
        with self.clock_lock:
            self.deadlines.pop(id(conn), None)

    def expired(self, conn: Any) -> bool:
        with self.clock_lock:
            entry = self.deadlines.get(id(conn))
        return entry is not None and time.monotonic() > entry[0]

    def handle(self, conn: Any) -> Any:
        self.start_clock(conn)
        try:
            return super().handle(conn)
        finally:
            self.stop_clock(conn)

    def handle_request(self, req: Any, conn: Any) -> Any:
        body: Any = getattr(req, "body", None)
        reader = getattr(body, "reader", None)
        if reader is None or (isinstance(reader, LengthReader) and reader.length == 0):
            self.stop_clock(conn)
        else:
            body.reader = _ClockedReader(reader, lambda: self.expired(conn), lambda: self.stop_clock(conn))
        return super().handle_request(req, conn)

    def murder_keepalived(self, force: bool = False) -> None:
        """gthread's idle-connection sweep (run by the main loop at least once a
        second), plus: shut down the sockets of requests read for too long."""
        super().murder_keepalived(force)
        now = time.monotonic()
        with self.clock_lock:
            late = [conn for deadline, conn in self.deadlines.values() if deadline < now]
        for conn in late:
            try:
                # socket.socket's own shutdown, also for a TLS socket: ssl.SSLSocket.shutdown
                # would drop its TLS state under the thread still reading from it.
                socket.socket.shutdown(conn.sock, socket.SHUT_RDWR)
            except OSError:
                pass  # already closed, or still being wrapped: tried again next time


class GunicornServer(BaseApplication):  # type: ignore[misc]
    """gunicorn's arbiter over an application built already, listening on a socket
    bound already (so that every error of binding was reported before gunicorn ran)."""

    def __init__(self, app: Any, settings: Settings, listener: socket.socket) -> None:
        self.application = app
        self.settings = settings
        self.fd = listener.detach()  # gunicorn takes the descriptor (and closes it after its dup)
        super().__init__()

    def load_config(self) -> None:
        s = self.settings
        options: dict[str, Any] = {
            "bind": [f"fd://{self.fd}"],
            "worker_class": RequestClockWorker,
            "workers": s.workers,
            "threads": s.threads,
            "worker_connections": s.max_connections,
            "keepalive": s.keepalive,
            "timeout": max(HEARTBEAT, s.timeout),
            "graceful_timeout": s.graceful_timeout,
            "certfile": s.certificate or None,
            "keyfile": s.key or None,
            "loglevel": s.log_level,
            "errorlog": "-",
            "accesslog": None,  # server.dav.requestlog writes the one line per request
            "proc_name": "followup-caldav",
            "control_socket_disable": True,
        }
        for key, value in options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        return self.application


M_ARENA_MAX = -8
"""glibc's ``mallopt`` parameter for the most malloc arenas (malloc.h)."""


def limit_malloc_arenas(arenas: int) -> bool:
    """Let the threads of this process (and of the workers it forks, which
    inherit the setting) share at most ``arenas`` malloc arenas (0: leave
    glibc's default). glibc gives threads arenas of their own, up to eight per
    core, and each keeps what was freed in it: a peak reached on one thread
    stays in its arena while the next peak builds up in another (docs/memory.md
    measured 1,127 MiB against 586 MiB over three rounds of 16 threads). False
    where there is no glibc ``mallopt`` (musl, macOS): nothing changes."""
    if arenas <= 0:
        return False
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        return bool(libc.mallopt(M_ARENA_MAX, arenas))
    except (OSError, AttributeError):
        return False


def run(app: Any, settings: Settings, listener: socket.socket) -> int:
    """Serve ``app`` with gunicorn until SIGTERM (graceful) or SIGINT; the exit status."""
    limit_malloc_arenas(settings.malloc_arenas)
    try:
        GunicornServer(app, settings, listener).run()
    except SystemExit as stop:
        return stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    return 0
