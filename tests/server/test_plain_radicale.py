"""The README's Deploy promise, as a new admin follows it: our plugins inside a
plain Radicale, ``python -m radicale --config config/radicale.conf`` after
``followups init``, with the shipped configuration changed only where it must
be (the address and the database). Everything is checked over HTTP only."""

from __future__ import annotations

import configparser
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from icalendar import Calendar

from tests.cli.clirun import ok
from tests.server.caldav_support import PASSWORD, C, D, Dav, responses, sync_token, vevent, vtodo

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "config" / "radicale.conf"
USERS = {"anna": "Anna Berg", "bjorn": "Bjørn Dahl"}
RESOURCE = "room-fjord"
STARTUP_SECONDS = 30.0


@dataclass
class PlainRadicale:
    url: str
    config: Path
    hosts: str
    database_url: str
    sessions: dict[str, Dav] = field(default_factory=dict)

    def dav(self, login: str = "anna") -> Dav:
        """An HTTP client logged in as ``login`` with the right password (one per login)."""
        if login not in self.sessions:
            self.sessions[login] = Dav(self.url, login)
        return self.sessions[login]

    def close(self) -> None:
        for dav in self.sessions.values():
            dav.session.close()
        self.sessions.clear()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def copy_config(shipped: Path, dest: Path, changes: dict[tuple[str, str], str]) -> None:
    """Copy ``shipped`` line by line (comments too), replacing only the values of
    the ``(section, option)`` lines named in ``changes``; each must be there."""
    section = ""
    done: set[tuple[str, str]] = set()
    out: list[str] = []
    for line in shipped.read_text(encoding="utf-8").splitlines(keepends=True):
        stripped = line.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            section = stripped[1:-1].strip()
        elif "=" in stripped and not stripped.startswith(("#", ";")):
            key = (section, stripped.split("=", 1)[0].strip())
            if key in changes:
                assert key not in done, f"{shipped} sets {key} twice"
                line = f"{key[1]} = {changes[key]}\n"
                done.add(key)
        out.append(line)
    assert done == set(changes), f"{shipped} lacks {sorted(set(changes) - done)}"
    dest.write_text("".join(out), encoding="utf-8")


def read_ini(path: Path) -> dict[str, dict[str, str]]:
    """Every section and option, parsed as Radicale parses its config (RawConfigParser)."""
    parser = configparser.RawConfigParser()
    assert parser.read(path, encoding="utf-8") == [str(path)]
    return {name: dict(parser[name]) for name in parser.sections()}


def wait_until_answers(proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"radicale exited with {proc.returncode} before answering:\n{log.read_text()}")
        try:
            requests.options(url, timeout=2)
            return
        except requests.RequestException:
            time.sleep(0.1)
    pytest.fail(f"radicale did not answer on {url} within {STARTUP_SECONDS} s:\n{log.read_text()}")


@pytest.fixture(scope="module")
def radicale(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlainRadicale]:
    """Plain Radicale with the shipped config, over a store made with the CLI:
    users anna and bjorn (password PASSWORD) and the room ``room-fjord``."""
    home = tmp_path_factory.mktemp("plain-radicale")
    database_url = f"sqlite:///{home / 'followups.db'}"
    ok(database_url, "init")
    for login, name in USERS.items():
        ok(database_url, "user", "add", "--name", name, "--email", f"{login}@example.com", "--tz", "Europe/Oslo",
           login)
        ok(database_url, "user", "passwd", login, stdin=PASSWORD + "\n")
    ok(database_url, "resource", "add", "--name", "Room Fjord", "--email", f"{RESOURCE}@example.com", RESOURCE)

    hosts = f"127.0.0.1:{free_port()}"
    conf = home / "radicale.conf"
    copy_config(SHIPPED, conf, {("server", "hosts"): hosts, ("storage", "database_url"): database_url})
    log = home / "radicale.log"
    env = {k: v for k, v in os.environ.items() if k != "FOLLOWUPS_DATABASE"}
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "radicale", "--config", str(conf)], cwd=ROOT, env=env,
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    server = PlainRadicale(f"http://{hosts}/", conf, hosts, database_url)
    try:
        wait_until_answers(proc, server.url, log)
        yield server
    finally:
        server.close()
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def hrefs(r: requests.Response) -> set[str]:
    assert r.status_code == 207, (r.status_code, r.text)
    return {resp.href for resp in responses(r)}


def put_event(dav: Dav, path: str, uid: str, summary: str = "Meeting", start: datetime | None = None) -> None:
    r = dav.put(path, vevent(uid, summary, start), If_None_Match="*")
    assert r.status_code == 201, (r.status_code, r.text)


# -- the configuration --------------------------------------------------------------------


def test_the_copy_changes_only_hosts_and_database_url(radicale: PlainRadicale) -> None:
    expected = read_ini(SHIPPED)
    expected["server"]["hosts"] = radicale.hosts
    expected["storage"]["database_url"] = radicale.database_url
    assert read_ini(radicale.config) == expected


# -- discovery ---------------------------------------------------------------------------


def test_propfind_on_the_principal_names_the_calendar_home(radicale: PlainRadicale) -> None:
    r = radicale.dav("anna").propfind("/anna/", "<C:calendar-home-set/><D:current-user-principal/>", depth="0")
    assert r.status_code == 207, (r.status_code, r.text)
    (resp,) = responses(r)
    assert resp.href == "/anna/"
    home = resp.elements[f"{C}calendar-home-set"]
    assert [h.text for h in home.iter(f"{D}href")] == ["/anna/"]
    principal = resp.elements[f"{D}current-user-principal"]
    assert [h.text for h in principal.iter(f"{D}href")] == ["/anna/"]


def test_propfind_depth_1_lists_meetings_and_tasks(radicale: PlainRadicale) -> None:
    r = radicale.dav("anna").propfind("/anna/", "<D:resourcetype/>", depth="1")
    assert hrefs(r) == {"/anna/", "/anna/meetings/", "/anna/tasks/"}


# -- writes and reads --------------------------------------------------------------------


def test_put_an_event_and_get_it_back(radicale: PlainRadicale) -> None:
    dav = radicale.dav("anna")
    put_event(dav, "/anna/meetings/plain-put.ics", "plain-put-1", "Lunch with Oslo Fjord AS")
    r = dav.get("/anna/meetings/plain-put.ics")
    assert r.status_code == 200, (r.status_code, r.text)
    (event,) = Calendar.from_ical(r.text).walk("VEVENT")
    assert str(event["UID"]) == "plain-put-1"
    assert str(event["SUMMARY"]) == "Lunch with Oslo Fjord AS"


def test_calendar_query_with_a_time_range_finds_the_event(radicale: PlainRadicale) -> None:
    dav = radicale.dav("anna")
    put_event(dav, "/anna/meetings/plain-in-range.ics", "plain-in-range", start=datetime(2026, 4, 10, 9, tzinfo=UTC))
    put_event(dav, "/anna/meetings/plain-out-of-range.ics", "plain-out-of-range",
              start=datetime(2026, 6, 10, 9, tzinfo=UTC))
    found = hrefs(dav.query("/anna/meetings/", "VEVENT", "20260410T000000Z", "20260411T000000Z"))
    assert "/anna/meetings/plain-in-range.ics" in found
    assert "/anna/meetings/plain-out-of-range.ics" not in found


def test_sync_collection_reports_a_new_href(radicale: PlainRadicale) -> None:
    dav = radicale.dav("anna")
    first = dav.sync("/anna/meetings/")
    assert first.status_code == 207, (first.status_code, first.text)
    put_event(dav, "/anna/meetings/plain-sync.ics", "plain-sync")
    r = dav.sync("/anna/meetings/", sync_token(first))
    assert r.status_code == 207, (r.status_code, r.text)
    changes = {resp.href: resp.status for resp in responses(r)}
    assert "/anna/meetings/plain-sync.ics" in changes
    assert changes["/anna/meetings/plain-sync.ics"] is None  # there, with properties: not a 404 entry


def test_delete_an_event_then_get_answers_404(radicale: PlainRadicale) -> None:
    dav = radicale.dav("anna")
    put_event(dav, "/anna/meetings/plain-delete.ics", "plain-delete")
    r = dav.delete("/anna/meetings/plain-delete.ics")
    assert r.status_code in (200, 204), (r.status_code, r.text)
    assert dav.get("/anna/meetings/plain-delete.ics").status_code == 404


# -- refusals ----------------------------------------------------------------------------


def test_a_todo_put_into_meetings_is_refused(radicale: PlainRadicale) -> None:
    dav = radicale.dav("anna")
    r = dav.put("/anna/meetings/plain-todo.ics", vtodo("plain-todo"), If_None_Match="*")
    assert r.status_code == 403, (r.status_code, r.text)
    assert dav.get("/anna/meetings/plain-todo.ics").status_code == 404


def test_a_put_into_a_resources_bookings_is_refused(radicale: PlainRadicale) -> None:
    dav = radicale.dav("anna")
    r = dav.put(f"/{RESOURCE}/bookings/plain-booking.ics", vevent("plain-booking"), If_None_Match="*")
    assert r.status_code == 403, (r.status_code, r.text)


def test_another_users_calendar_is_hidden(radicale: PlainRadicale) -> None:
    put_event(radicale.dav("bjorn"), "/bjorn/meetings/plain-private.ics", "plain-private", "Bjorn's secret")
    anna = radicale.dav("anna")
    r = anna.propfind("/bjorn/meetings/", "<D:getetag/>", depth="1")
    assert r.status_code == 403, (r.status_code, r.text)
    r = anna.get("/bjorn/meetings/plain-private.ics")
    assert r.status_code in (403, 404), (r.status_code, r.text)
    assert "plain-private" not in r.text and "secret" not in r.text
    assert "BEGIN:VCALENDAR" not in r.text


def test_deleting_a_calendar_is_refused(radicale: PlainRadicale) -> None:
    dav = radicale.dav("anna")
    r = dav.delete("/anna/meetings/")
    assert r.status_code == 403, (r.status_code, r.text)
    assert "/anna/meetings/" in hrefs(dav.propfind("/anna/", "<D:resourcetype/>", depth="1"))


def test_a_wrong_password_answers_401(radicale: PlainRadicale) -> None:
    r = requests.request("PROPFIND", radicale.url + "anna/", auth=("anna", "not-" + PASSWORD),
                         headers={"Depth": "0"}, timeout=30)
    assert r.status_code == 401, (r.status_code, r.text)
