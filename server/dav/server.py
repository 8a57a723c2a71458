"""``followups serve``: the CalDAV server on a real HTTP socket."""

from __future__ import annotations

import dataclasses
import logging
import socketserver
import sys
import wsgiref.simple_server
from typing import Any

from server import config
from server.dav.app import make_app
from server.services.transaction import transaction
from store import db

log = logging.getLogger("followups.serve")


class _Server(socketserver.ThreadingMixIn, wsgiref.simple_server.WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class ListenError(OSError):
    """The server cannot listen on the configured address."""


class _Handler(wsgiref.simple_server.WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)


def make_server(settings: config.Settings) -> wsgiref.simple_server.WSGIServer:
    """A threaded HTTP server for the app, bound but not yet serving (port 0
    picks a free port: read it from ``server.server_address``)."""
    from server.services.followups import open_store

    open_store(settings.database or None)
    app = make_app(settings)
    try:
        server = wsgiref.simple_server.make_server(settings.host, settings.port, app, _Server, _Handler)  # type: ignore[arg-type]
    except OSError as exc:
        raise ListenError(f"cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}") from exc
    return server


def serve(settings: config.Settings, config_file: config.ConfigFile | None = None, demo: bool = False) -> int:
    """Serve until interrupted. ``settings`` are already resolved (flags, environment,
    config file, defaults); ``config_file`` is reported so the operator knows which was read."""
    if config_file is not None:
        print(f"followup-caldav: {config_file.describe()}", file=sys.stderr, flush=True)
    url = db.normalize_url(settings.database or db.default_url())
    settings = dataclasses.replace(settings, database=url)
    demo_users: list[tuple[str, str]] = []
    if demo:
        demo_users = _ensure_demo(url)
    try:
        server = make_server(settings)
    except ListenError as exc:
        print(f"followups: error: {exc}", file=sys.stderr)
        return 1
    host, port = server.server_address[:2]
    base = f"http://{host.decode() if isinstance(host, bytes) else host}:{port}/"
    print(f"followup-caldav serving {url}", file=sys.stderr)
    print(f"CalDAV URL: {base}", flush=True)
    for login, password in demo_users[:1]:
        print(f"Demo login: {login}  password: {password}  (other demo users: "
              f"{', '.join(u for u, _ in demo_users[1:])}, same password)", flush=True)
    print("Press Ctrl+C to stop.", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def _ensure_demo(url: str) -> list[tuple[str, str]]:
    """Load the demo data into an empty store; leave a used store alone."""
    from server.demo import DEMO_PASSWORD, load_demo
    from server.services.followups import open_store

    engine = open_store(url)
    with transaction(engine, write=False) as uow:
        users = [u.login for u in uow.users.list()]
    if users:
        print(f"the store already has users ({', '.join(users[:4])}...): demo data not loaded", file=sys.stderr)
        return [(u, DEMO_PASSWORD) for u in users]
    info = load_demo(engine)
    return list(info.users)
