"""``followups serve``: the CalDAV server on a real HTTP socket.

:func:`serve` is the production path: gunicorn with several processes
(:mod:`server.dav.process`). :func:`make_server` is a threaded ``wsgiref`` server
in this process, for tests that want the server and the store in one process."""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import socketserver
import ssl
import sys
import wsgiref.simple_server
from typing import Any

from sqlalchemy.engine import make_url

from server import config
from server.dav.app import make_app
from server.services.transaction import transaction
from store import db

log = logging.getLogger("followups.serve")

BACKLOG = 2048
"""Connections the kernel queues for the server beyond those it has taken (gunicorn's default)."""


class _Server(socketserver.ThreadingMixIn, wsgiref.simple_server.WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class ListenError(OSError):
    """The server cannot listen on the configured address."""


class _Handler(wsgiref.simple_server.WSGIRequestHandler):
    def get_environ(self) -> dict[str, str]:
        environ = super().get_environ()
        if self.headers.get("content-type") is None:
            environ.pop("CONTENT_TYPE", None)  # wsgiref says text/plain; the client sent none
        return environ

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)


def make_server(settings: config.Settings) -> wsgiref.simple_server.WSGIServer:
    """A threaded HTTP/1.0 server for the app in this process, bound but not yet serving
    (port 0 picks a free port: read it from ``server.server_address``). For tests:
    ``followups serve`` runs gunicorn instead."""
    from server.services.followups import open_store

    open_store(settings.database or None)
    app = make_app(settings)
    try:
        server = wsgiref.simple_server.make_server(settings.host, settings.port, app, _Server, _Handler)  # type: ignore[arg-type]
    except OSError as exc:
        raise ListenError(f"cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}") from exc
    return server


def serve(settings: config.Settings, config_file: config.ConfigFile | None = None, demo: bool = False) -> int:
    """Serve with gunicorn (server.dav.process) until SIGTERM or Ctrl+C. ``settings``
    are already resolved (flags, environment, config file, defaults); ``config_file``
    is reported so the operator knows which was read.

    The TLS files are read and the socket is bound here, before anything else, so
    that each way of failing to start is one line and a non-zero exit (gunicorn
    would retry a busy port for five seconds and log a traceback for a bad key)."""
    try:
        tls = check_tls(settings)
        listener = listen(settings)
    except ListenError as exc:
        print(f"followups: error: {exc}", file=sys.stderr, flush=True)
        return 1
    with listener:
        if config_file is not None:
            print(f"followup-caldav: {config_file.describe()}", file=sys.stderr, flush=True)
        url = db.normalize_url(settings.database or db.default_url())
        settings = dataclasses.replace(settings, database=url)
        migrate_apart(url)
        banner = demo_banner(_ensure_demo(url)) if demo else []
        app = _build_app(settings)
        host, port = listener.getsockname()[:2]
        shown = f"[{host}]" if ":" in host else host
        print(f"followup-caldav serving {make_url(url).render_as_string(hide_password=True)} "
              f"({settings.workers} process(es), {settings.threads} threads each)", file=sys.stderr)
        print(f"CalDAV URL: {'https' if tls else 'http'}://{shown}:{port}/", flush=True)
        for line in banner:
            print(line, flush=True)
        print("Press Ctrl+C to stop.", file=sys.stderr, flush=True)
        from server.dav import process

        return process.run(app, settings, listener)


def check_tls(settings: config.Settings) -> bool:
    """Whether to serve HTTPS; :class:`ListenError` when the certificate or key is
    missing, unreadable or not a pair."""
    if not settings.certificate and not settings.key:
        return False
    if not settings.certificate or not settings.key:
        given, missing = ("certificate", "key") if settings.certificate else ("key", "certificate")
        raise ListenError(f"a TLS {given} needs its {missing} too (--certificate and --key)")
    for what, path in (("certificate", settings.certificate), ("key", settings.key)):
        try:
            with open(path, "rb"):
                pass
        except OSError as exc:
            raise ListenError(f"cannot read the TLS {what} {path}: {exc.strerror or exc}") from None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(settings.certificate, settings.key)
    except (ssl.SSLError, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc.strerror or type(exc).__name__
        raise ListenError(f"the TLS certificate {settings.certificate} and key {settings.key} "
                          f"are not a usable pair ({reason})") from None
    return True


def listen(settings: config.Settings) -> socket.socket:
    """A listening TCP socket on the configured host and port (0: a free port),
    without Nagle's algorithm on the connections it accepts."""
    where = f"{settings.host}:{settings.port}"
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            settings.host or None, settings.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    except (socket.gaierror, UnicodeError) as exc:
        raise ListenError(f"cannot listen on {where}: not an address of this machine "
                          f"({getattr(exc, 'strerror', None) or exc})") from None
    listener = socket.socket(family, kind, proto)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Every accepted connection inherits it: gunicorn writes a response's
        # headers and body in two sends, and with Nagle's algorithm on, a
        # keep-alive client's next request waited for its delayed ACK (40 ms a
        # request, measured; one connection per request hid it).
        listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        listener.bind(address)
        listener.listen(BACKLOG)
    except OSError as exc:
        listener.close()
        raise ListenError(f"cannot listen on {where}: {exc.strerror or exc}") from None
    return listener


def migrate_apart(url: str) -> None:
    """Create or upgrade the store at ``url`` in a child process, when there is
    anything to do: alembic and Mako stay out of this process, which the
    workers are forked from (about 10 MiB resident in each, measured).

    If the child fails, the migration runs again here, so that its error is
    reported as every other start-up error is (``store/migrations/env.py``
    runs the migrations in one transaction: a failed attempt left nothing)."""
    if db.schema_current(db.get_engine(url)):
        return
    db.dispose_all()  # no connection may be shared with the child
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child's exit code is what the parent sees
        code = 1
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 2)
            db.migrate(url)
            db.dispose_all()
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        db.migrate(url)


def _build_app(settings: config.Settings) -> Any:
    """The application, built once here and shared by the worker processes forked from
    this one; the database connections it opened are closed first, so that no
    process uses a connection another one opened."""
    from server.services.followups import open_store

    open_store(settings.database or None)
    app = make_app(settings)
    db.get_engine(settings.database or None).dispose()
    return app


@dataclasses.dataclass(frozen=True)
class DemoLogins:
    """Who can log in to a ``serve --demo`` store: the demo users whose password is still
    the demo's, and the store's users when the demo data was not loaded."""

    working: list[tuple[str, str]]
    """(login, password) of each demo user the demo password still opens."""
    existing: list[str] = dataclasses.field(default_factory=list)
    """The users of a store that had users already (the demo data was not loaded)."""


def demo_banner(logins: DemoLogins, shown: int = 4) -> list[str]:
    """The lines ``serve --demo`` prints about logging in. A password is printed only
    when it works: a store whose users changed it (or never had it) names its users."""
    lines = []
    if logins.working:
        (login, password), others = logins.working[0], [u for u, _ in logins.working[1:]]
        also = f"  (other demo users: {', '.join(others)}, same password)" if others else ""
        lines.append(f"Demo login: {login}  password: {password}{also}")
    elif logins.existing:
        users = ", ".join(logins.existing[:shown])
        more = len(logins.existing) - shown
        users += f" and {more} more" if more > 0 else ""
        lines.append(f"The store already has users ({users}): log in with their own passwords.")
    return lines


def _ensure_demo(url: str) -> DemoLogins:
    """Load the demo data into an empty store; leave a used store alone, and tell which
    demo logins still work there (the demo password checked against each stored hash)."""
    from server.demo import DEMO_PASSWORD, USERS, load_demo
    from server.services.auth import check_password
    from server.services.followups import open_store

    engine = open_store(url)
    with transaction(engine, write=False) as uow:
        users = uow.users.list()
    if users:
        print(f"the store already has users ({', '.join(u.login for u in users[:4])}"
              f"{', ...' if len(users) > 4 else ''}): demo data not loaded", file=sys.stderr)
        demo_logins = {login for login, *_ in USERS}
        working = [(u.login, DEMO_PASSWORD) for u in users
                   if u.login in demo_logins and check_password(u.password_hash, DEMO_PASSWORD)]
        return DemoLogins(working, [u.login for u in users])
    info = load_demo(engine)
    return DemoLogins(list(info.users))
