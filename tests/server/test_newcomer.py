"""The README's promise, end to end: ``followups serve --demo`` prints a URL and
a login; the ``caldav`` library sees the demo user's meetings and tasks; an
edit in the client shows in ``followups diary`` at once, and one made with the
CLI shows in the client after a sync."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from caldav.davclient import DAVClient

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def followups(database: str, *args: str) -> str:
    result = subprocess.run([sys.executable, "-m", "server.cli", "--database", database, *args],
                            capture_output=True, text=True, check=False, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture
def demo(db_url: str, tmp_path: Path) -> Iterator[tuple[str, str, str, str]]:
    """(database URL, CalDAV URL, login, password) of a running demo server."""
    port = free_port()
    log = open(tmp_path / "serve.out", "w+")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen([sys.executable, "-m", "server.cli", "--database", db_url, "serve", "--demo",
                             "--port", str(port)], stdout=log, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 90
        text = ""
        while time.monotonic() < deadline:
            text = (tmp_path / "serve.out").read_text()
            if "Demo login:" in text:
                break
            assert proc.poll() is None, text
            time.sleep(0.2)
        url = re.search(r"CalDAV URL: (\S+)", text)
        login = re.search(r"Demo login: (\S+)\s+password: (\S+)", text)
        assert url and login, text
        yield db_url, url.group(1), login.group(1), login.group(2)
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


def test_a_newcomer_syncs_the_demo_both_ways(demo: tuple[str, str, str, str]) -> None:
    database, url, login, password = demo
    with DAVClient(url=url, username=login, password=password) as client:
        calendars = {str(c.url).rstrip("/").rsplit("/", 1)[-1]: c for c in client.principal().calendars()}
        assert set(calendars) == {"meetings", "tasks"}
        meetings, tasks = calendars["meetings"], calendars["tasks"]
        assert len(meetings.events()) > 10
        assert len(tasks.todos(include_completed=True)) > 10

        # An edit in the client is in the CRM's diary at once.
        zone = ZoneInfo("Europe/Oslo")
        start = (datetime.now(zone) + timedelta(days=1)).replace(hour=9, minute=0, second=0, microsecond=0)
        meetings.add_event(uid="newcomer-1", summary="Made in the client", dtstart=start,
                           dtend=start + timedelta(hours=1))
        day = start.date().isoformat()
        diary = json.loads(followups(database, "diary", login, "--day", day, "--json"))
        assert [i["title"] for i in diary if i["uid"] == "newcomer-1"] == ["Made in the client"]

        # A CRM-side change shows in the client after a sync.
        before = meetings.objects_by_sync_token(load_objects=False)
        (made,) = [i for i in diary if i["uid"] == "newcomer-1"]
        followups(database, "update", str(made["id"]), "--title", "Renamed in the CRM")
        changed = meetings.objects_by_sync_token(sync_token=before.sync_token, load_objects=True)
        assert [str(o.get_icalendar_component()["SUMMARY"]) for o in changed] == ["Renamed in the CRM"]
