"""A real CalDAV server on 127.0.0.1 (a free port), over a fresh store on
SQLite and on PostgreSQL, with two users and a room."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import Engine

from server import config, services
from server.serve import make_server
from store.domain import Resource, ResourceKind, User

PASSWORD = "secret"


@dataclass
class LiveServer:
    url: str
    engine: Engine
    database: str

    def auth(self, login: str = "anna") -> tuple[str, str]:
        return (login, PASSWORD)


def start_server(db_url: str) -> tuple[LiveServer, threading.Thread, object]:
    engine = services.open_store(db_url)
    settings = config.Settings(database=db_url, host="127.0.0.1", port=0, max_body=200_000,
                               log_level="error", auth_delay=0.0)
    httpd = make_server(settings)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    host, port = httpd.server_address[:2]
    return LiveServer(f"http://{host}:{port}/", engine, db_url), thread, httpd


@pytest.fixture
def live(db_url: str) -> Iterator[LiveServer]:
    """The server, with users anna and bjorn (password "secret") and room "fjord"."""
    server, thread, httpd = start_server(db_url)
    services.add_user(server.engine, User("anna", "Anna Berg", "anna@example.com", tz="Europe/Oslo"), PASSWORD)
    services.add_user(server.engine, User("bjorn", "Bjørn Dahl", "bjorn@example.com", tz="Europe/Oslo"), PASSWORD)
    services.add_resource(server.engine, Resource("fjord", "Room Fjord", ResourceKind.ROOM, "fjord@example.com"))
    try:
        yield server
    finally:
        httpd.shutdown()  # type: ignore[attr-defined]
        httpd.server_close()  # type: ignore[attr-defined]
        thread.join(5)
