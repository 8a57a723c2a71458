"""``GET /.health``: is this process up, and can it reach its database?

For load balancers, container health checks and monitoring: no login (logins
cannot begin with "." so the path is nobody's home), 200
``{"status": "ok", "database": "ok"}`` after a ``SELECT 1`` on the store, 503
``{"status": "error", "database": "unavailable"}`` when that fails. The body
never holds the database URL or the error's text (they can name hosts, users and
passwords); the log says only which kind of error it was.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import Engine, text

PATH = "/.health"

log = logging.getLogger("followups.health")

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def database_ok(engine: Engine) -> bool:
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:  # any failure to reach or use the database means "unavailable"
        log.warning("health check: the database is unavailable (%s)", type(exc).__name__)
        return False
    return True


class Health:
    """WSGI middleware: answers ``PATH`` itself, passes everything else to ``app``."""

    def __init__(self, app: WSGIApp, engine: Engine) -> None:
        self.app = app
        self.engine = engine

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != PATH:
            return self.app(environ, start_response)
        method = environ.get("REQUEST_METHOD", "GET").upper()
        headers = [("Cache-Control", "no-store")]
        if method not in ("GET", "HEAD"):
            body = b"GET or HEAD\n"
            start_response("405 Method Not Allowed", headers + [
                ("Allow", "GET, HEAD"), ("Content-Type", "text/plain; charset=utf-8"),
                ("Content-Length", str(len(body)))])
            return [body]
        if database_ok(self.engine):
            status, answer = "200 OK", {"status": "ok", "database": "ok"}
        else:
            status, answer = "503 Service Unavailable", {"status": "error", "database": "unavailable"}
        body = json.dumps(answer).encode()
        start_response(status, headers + [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [] if method == "HEAD" else [body]
