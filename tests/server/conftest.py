"""Fixtures of the CalDAV server tests: a real server on 127.0.0.1 (a free
port) over a fresh store on SQLite and on PostgreSQL, with two users and a
room. The helpers themselves are in caldav_support.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from server.services import auth
from tests.server.caldav_support import LiveServer, add_people, start_server, stop_server

__all__ = ["LiveServer", "start_server"]


@pytest.fixture
def live(db_url: str) -> Iterator[LiveServer]:
    """The server, with users anna and bjorn (password "secret") and room "fjord"."""
    server, thread, httpd = start_server(db_url)
    add_people(server.engine)
    try:
        yield server
    finally:
        stop_server(server, thread, httpd)




@pytest.fixture
def password_checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every password hashed against a stored secret from now on (``auth._check``),
    in order; the login caches start empty."""
    checks: list[str] = []
    original = auth._check

    def counted(stored: str, password: str) -> bool:
        checks.append(password)
        return original(stored, password)

    monkeypatch.setattr(auth, "_check", counted)
    auth.VERIFIED.clear()
    auth.REFUSED.clear()
    return checks
