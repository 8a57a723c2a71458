"""One log line per request: WSGI middleware in front of :class:`server.dav.app.Application`.

Our own PUT path answers without Radicale, so Radicale's log never sees those
requests; this layer sees every one. The line is written once the response body
has been sent (in the body iterable's ``close()``, PEP 3333), with the method,
the path (``PATH_INFO``, no query string), the Basic login name, the status, the
body bytes sent and the duration. Never a request body, calendar data, a query
string or a password: paths hold logins and hrefs, not follow-up content. A
feed's path holds its secret token instead, so it is logged as
``/feeds/<feed ID>`` (or ``/feeds/<redacted>`` for a token that found no feed):
see :func:`logged_path`.

Lines go to the ``followups.requests`` logger at INFO. :func:`configure` gives
that logger its own stderr handler unless one is configured already (e.g. by a
``logging`` config dict under gunicorn), so the lines appear whatever Radicale's
log level is.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

LOGGER_NAME = "followups.requests"
FORMATS = ("text", "json")

log = logging.getLogger(LOGGER_NAME)

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class _Stderr(logging.Handler):
    """Writes to ``sys.stderr`` as it is at each line, not as it was when the handler was
    made (as :data:`logging.lastResort` does), so a replaced stderr is followed."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
            sys.stderr.flush()
        except Exception:
            self.handleError(record)


def configure() -> None:
    """The request log as its own channel: INFO unless a level was set for it, and a
    stderr handler (the bare line) unless it has handlers already. Its lines then do not
    also go up to the root logger, where Radicale's handler would print them again."""
    if log.level == logging.NOTSET:
        log.setLevel(logging.INFO)
    if not log.handlers:
        handler = _Stderr()
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
        log.propagate = False


def login(environ: dict[str, Any]) -> str:
    """The login name of a Basic ``Authorization`` header (RFC 7617), "-" when there is
    none. Nothing after the first colon (the password) is kept; a header without a colon
    is "-" too, since all of it could be a password."""
    header = environ.get("HTTP_AUTHORIZATION")
    if not header or header[:6].lower() != "basic ":
        return "-"
    try:
        name, colon, _ = base64.b64decode(header[6:].strip()).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return "-"
    return name if colon and name else "-"


FEEDS = re.compile("/feeds/", re.IGNORECASE)
FEED_KEY = "followups.feed"
"""Where server.dav.feeds leaves the id of the feed it served."""


def logged_path(environ: dict[str, Any]) -> str:
    """The request's path as logged: everything after ``/feeds/`` (a feed's secret token,
    wherever in the path it is) replaced by the feed's id, or by ``<redacted>``."""
    path = environ.get("PATH_INFO", "") or "/"
    found = FEEDS.search(path)
    if found is None:
        return path
    feed = environ.get(FEED_KEY)
    return path[:found.end()] + (f"<feed {feed}>" if isinstance(feed, int) else "<redacted>")


def _escaped(text: str, extra: str = "") -> str:
    """``text`` safe in one text log line: control characters, backslashes, double quotes
    and ``extra`` as ``\\xNN`` (a path can hold ``%0A`` decoded to a newline)."""
    if text.isprintable() and "\\" not in text and '"' not in text and not any(c in text for c in extra):
        return text
    return "".join(f"\\x{ord(c):02x}" if not c.isprintable() or c in '\\"' + extra else c for c in text)


class _Body:
    """The response body, counted as it is sent; the line is logged on ``close()``."""

    def __init__(self, record: _Record, body: Iterable[bytes]) -> None:
        self.record = record
        self.body = body

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.body:
            self.record.sent += len(chunk)
            yield chunk

    def close(self) -> None:
        try:
            if hasattr(self.body, "close"):
                self.body.close()
        finally:
            self.record.done()


class _Record:
    """One request's log line, built as it goes."""

    def __init__(self, middleware: RequestLog, environ: dict[str, Any]) -> None:
        self.middleware = middleware
        self.environ = environ
        self.started = time.perf_counter()
        self.status = 500  # what the server sends when the app fails before start_response
        self.sent = 0
        self.logged = False

    def start(self, start_response: StartResponse) -> StartResponse:
        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            try:
                self.status = int(status[:3])
            except ValueError:
                pass
            write = start_response(status, headers, exc_info)

            def counted(data: bytes) -> Any:
                self.sent += len(data)
                return write(data)

            return counted

        return start

    def done(self) -> None:
        if self.logged:
            return
        self.logged = True
        environ = self.environ
        fields = {
            "method": environ.get("REQUEST_METHOD", "-"),
            "path": logged_path(environ),
            "user": login(environ),
            "status": self.status,
            "bytes": self.sent,
            "ms": round((time.perf_counter() - self.started) * 1000, 1),
            "remote": environ.get("REMOTE_ADDR") or "-",
        }
        if self.middleware.format == "json":
            line = json.dumps(fields)  # non-ASCII as \u escapes: one line for any reader
        else:
            line = (f"{_escaped(fields['remote'], ' ')} {_escaped(fields['user'], ' ')} "
                    f"\"{_escaped(fields['method'], ' ')} {_escaped(fields['path'])}\" "
                    f"{fields['status']} {fields['bytes']} B {fields['ms']} ms")
        log.info(line, extra={"request": fields})


class RequestLog:
    """WSGI middleware: ``app``, with one ``followups.requests`` line per request, in
    ``format`` ("text" or "json"). When the logger would drop INFO, requests pass straight
    through, with no wrapping at all."""

    def __init__(self, app: WSGIApp, format: str = "text") -> None:
        if format not in FORMATS:
            raise ValueError(f"log_format is one of {', '.join(FORMATS)}, not {format!r}")
        self.app = app
        self.format = format

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if not log.isEnabledFor(logging.INFO):
            return self.app(environ, start_response)
        record = _Record(self, environ)
        try:
            body = self.app(environ, record.start(start_response))
        except BaseException:
            record.done()
            raise
        return _Body(record, body)
