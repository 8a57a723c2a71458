"""Fixtures of the CalDAV server tests: a real server on 127.0.0.1 (a free
port) over a fresh store on SQLite and on PostgreSQL, with two users and a
room. The helpers themselves are in caldav_support.

pytest puts ``tests/`` on ``sys.path`` (rootdir conftest, prepend mode), where
``tests/server``, ``tests/store`` and ``tests/mapping`` would shadow the real
packages as namespace packages: the project root goes first, and shadows
already imported are dropped, so ``import server`` is the real one.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[2])
if sys.path[:1] != [ROOT]:
    sys.path.insert(0, ROOT)
for _name in ("server", "store", "mapping", "plugins"):
    if _name in sys.modules and getattr(sys.modules[_name], "__file__", None) is None:
        del sys.modules[_name]

from collections.abc import Iterator  # noqa: E402

import pytest  # noqa: E402
from caldav_support import LiveServer, add_people, start_server, stop_server  # noqa: E402

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


