"""The failed-login delay, without letting password guessers hold the server's threads.

A failed login (a 401 to a request that sent credentials) or a 403 is answered
after ``auth_delay * (0.5 + random())`` seconds, against guessing (Radicale's
rule; Radicale's own delay is set to 0, see :mod:`server.dav.radicale_config`).
Radicale sleeps in the request's thread, so a handful of clients sending wrong
passwords kept every thread asleep and everyone else's requests waited behind
them. Here only ``slots`` requests per process sleep at once; one that finds no
slot free is answered at once with 429 Too Many Requests and ``Retry-After``
(RFC 6585 4). Its credentials were refused already, so the quick answer tells a
guesser nothing the slow one would not, and a guesser still gets at most
``slots`` answers per ``auth_delay`` from a process. A 401 to a request without
credentials (every client's first request, to learn the auth scheme) is not
delayed.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

TOO_MANY = b"Too many failed logins at once: retry later.\n"


def slots_for(threads: int) -> int:
    """Requests per process that may sleep at once: a quarter of its threads, at least one."""
    return max(1, threads // 4)


def delayed(status: str, environ: dict[str, Any]) -> bool:
    """Whether a response with ``status`` is delayed: a 403, or a 401 to credentials."""
    code = status[:3]
    return code == "403" or (code == "401" and bool(environ.get("HTTP_AUTHORIZATION")))


class _Body:
    """What the application wrote through ``write()`` before its iterable, then the
    iterable, closed with it (PEP 3333)."""

    def __init__(self, written: list[bytes], body: Iterable[bytes]) -> None:
        self.written = written
        self.body = body

    def __iter__(self) -> Iterator[bytes]:
        yield from self.written
        yield from self.body

    def close(self) -> None:
        if hasattr(self.body, "close"):
            self.body.close()


class LoginDelay:
    """WSGI middleware: delay failed logins and 403s, at most ``slots`` at once (see
    the module's docstring). ``delay`` 0 turns it off."""

    def __init__(self, app: WSGIApp, delay: float, slots: int,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.app = app
        self.delay = delay
        self.slots = threading.BoundedSemaphore(max(1, slots))
        self.sleep = sleep
        self.retry_after = str(max(1, math.ceil(delay)))

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if self.delay <= 0:
            return self.app(environ, start_response)
        held: list[tuple[str, list[tuple[str, str]], Any]] = []
        written: list[bytes] = []

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            if not held and delayed(status, environ):
                held.append((status, headers, exc_info))
                return written.append
            return start_response(status, headers, exc_info)

        body = self.app(environ, start)
        if not held:
            return body
        status, headers, exc_info = held[0]
        if not self.slots.acquire(blocking=False):
            if hasattr(body, "close"):
                body.close()
            start_response("429 Too Many Requests", [("Content-Type", "text/plain; charset=utf-8"),
                                                     ("Retry-After", self.retry_after),
                                                     ("Content-Length", str(len(TOO_MANY)))])
            return [TOO_MANY]
        try:
            self.sleep(self.delay * (0.5 + random.random()))
        finally:
            self.slots.release()
        start_response(status, headers, exc_info)
        return _Body(written, body)
