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
    banner: list[str] = []
    if demo:
        banner = demo_banner(_ensure_demo(url))
    try:
        server = make_server(settings)
    except ListenError as exc:
        print(f"followups: error: {exc}", file=sys.stderr)
        return 1
    host, port = server.server_address[:2]
    base = f"http://{host.decode() if isinstance(host, bytes) else host}:{port}/"
    print(f"followup-caldav serving {url}", file=sys.stderr)
    print(f"CalDAV URL: {base}", flush=True)
    for line in banner:
        print(line, flush=True)
    print("Press Ctrl+C to stop.", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


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
