"""Each user's page at the server's root: calendars, setup steps, feeds, exports.

Stub: filled in by the page work (issue 12)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import Engine

from server.config import Settings

StartResponse = Callable[..., Any]
PREFIX = "/.page/"


def handles(method: str, path: str) -> bool:
    """Whether the page answers this request (its own paths, and GET or HEAD of the root)."""
    return path.startswith(PREFIX) or (path in ("", "/") and method in ("GET", "HEAD"))


def handle(engine: Engine, settings: Settings, environ: dict[str, Any],
           start_response: StartResponse) -> Iterable[bytes]:
    body = b"Not Found\n"
    start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8"),
                                     ("Content-Length", str(len(body)))])
    return [body]
