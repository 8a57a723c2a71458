"""kill -9 of the server during a stream of PUTs, and of a bulk load: nothing acknowledged
is lost, nothing is half-written, sync tokens still work, and ``followups check`` finds
the calendars matching the follow-ups.

The server is ``followups serve`` (two processes) in its own session, killed with
SIGKILL to the whole process group, the way a crash or the OOM killer ends it.
"""

from __future__ import annotations

import os
import re
import selectors
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import pytest
import requests
from sqlalchemy import Engine, create_engine, text

from server.cli.main import main
from server.services import followups as services
from server.services.transaction import transaction
from store.domain import Resource, ResourceKind, User
from tests.server.caldav_support import (
    PASSWORD,
    C,
    Dav,
    add_people,
    ical,
    responses,
    start_server,
    stop_server,
    sync_token,
    unfold,
)

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = 3
ACKNOWLEDGED_BEFORE_KILL = 30


@dataclass
class Server:
    proc: subprocess.Popen[str]
    url: str
    log: IO[str]

    def kill(self) -> None:
        """SIGKILL to every process of the server (gunicorn's arbiter and its workers)."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(30)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.log.close()


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "FOLLOWUPS_DATABASE"}


def _serve(url: str, log_path: Path) -> Server:
    """``followups serve`` on a free port; its URL from the ``CalDAV URL:`` line it prints."""
    log = open(log_path, "a")  # noqa: SIM115 (closed by Server.kill)
    proc = subprocess.Popen([sys.executable, "-W", "error", "-m", "server.cli", "--database", url, "serve",
                             "--port", "0", "--auth-delay", "0", "--workers", "2"],
                            cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=log, text=True,
                            start_new_session=True)
    server = Server(proc, "", log)
    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if sel.select(timeout=1):
                line = proc.stdout.readline()
                found = re.match(r"CalDAV URL: (\S+)", line)
                if found:
                    server.url = found.group(1)
                    return server
                if not line and proc.poll() is not None:
                    break
    server.kill()
    pytest.fail(f"the server did not start: {log_path.read_text()}")


def _check(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--database", url, "check"])
    out, err = capsys.readouterr()
    assert code == 0, out + err


def _event(uid: str, summary: str, invite: bool) -> str:
    guests = ("ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:bjorn@example.com",
              "ATTENDEE;CUTYPE=ROOM;PARTSTAT=NEEDS-ACTION:mailto:fjord@example.com") if invite else ()
    return ical("BEGIN:VEVENT", f"UID:{uid}", "DTSTAMP:20260101T000000Z", "DTSTART:20260302T090000Z",
                "DTEND:20260302T100000Z", f"SUMMARY:{summary}", "ORGANIZER:mailto:anna@example.com", *guests,
                "END:VEVENT")


@dataclass
class Stream:
    """What the clients sent: per href, the SUMMARY last acknowledged and the one in flight."""

    acked: dict[str, str] = field(default_factory=dict)
    inflight: dict[str, str] = field(default_factory=dict)
    invited: set[str] = field(default_factory=set)
    refused: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)

    def count(self) -> int:
        with self.lock:
            return len(self.acked)

    def client(self, base: str, n: int) -> None:
        """Create events (every other one inviting bjorn and the room), and every third
        request rewrite one this client made before."""
        with requests.Session() as session:
            session.auth = ("anna", PASSWORD)
            self._send(session, base, n)

    def _send(self, session: requests.Session, base: str, n: int) -> None:
        mine: list[str] = []
        i = 0
        while not self.stop.is_set():
            i += 1
            if i % 3 == 0 and mine:
                href = mine[i % len(mine)]
            else:
                href = f"c{n}-{i}.ics"
            summary = f"client {n} request {i}"
            with self.lock:
                self.inflight[href] = summary
                if href not in mine and i % 2 == 0:
                    self.invited.add(href)  # for good: its rewrites invite bjorn and the room too
                invite = href in self.invited
            try:
                r = session.put(f"{base}anna/meetings/{href}", data=_event(href[:-4], summary, invite).encode(),
                                headers={"Content-Type": "text/calendar; charset=utf-8"}, timeout=30)
            except requests.RequestException:
                return  # the server is gone
            with self.lock:
                if 200 <= r.status_code < 300:
                    self.acked[href] = summary
                    del self.inflight[href]
                    if href not in mine:
                        mine.append(href)
                else:
                    self.refused.append(f"{href}: {r.status_code} {r.text[:200]}")


@pytest.fixture
def people(engine: Engine) -> Iterator[None]:
    services.add_user(engine, User("anna", "Anna Berg", "anna@example.com", tz="Europe/Oslo"), PASSWORD)
    services.add_user(engine, User("bjorn", "Bjørn Dahl", "bjorn@example.com", tz="Europe/Oslo"), PASSWORD)
    services.add_resource(engine, Resource("fjord", "Room Fjord", ResourceKind.ROOM, "fjord@example.com"))
    yield
    engine.dispose()


def test_kill_9_during_a_stream_of_puts_loses_no_acknowledged_write(
        people: None, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stream, tokens = _stream_then_kill(db_url, tmp_path)
    server = _serve(db_url, tmp_path / "serve.log")
    try:
        _everything_acknowledged_is_there(server.url, stream, tokens)
    finally:
        server.kill()
    _check(db_url, capsys)


def _stream_then_kill(db_url: str, tmp_path: Path) -> tuple[Stream, dict[str, str]]:
    """Sync tokens of anna's and bjorn's meetings, then PUTs from :data:`CLIENTS` clients,
    and SIGKILL once :data:`ACKNOWLEDGED_BEFORE_KILL` were answered, the clients still sending."""
    server = _serve(db_url, tmp_path / "serve.log")
    try:
        tokens = {}
        for who in ("anna", "bjorn"):
            dav = Dav(server.url, who)
            r = dav.sync(f"{who}/meetings/")
            dav.session.close()
            assert r.status_code == 207, r.text
            tokens[who] = sync_token(r)
        stream = Stream()
        clients = [threading.Thread(target=stream.client, args=(server.url, n), daemon=True) for n in range(CLIENTS)]
        for t in clients:
            t.start()
        deadline = time.monotonic() + 90
        while stream.count() < ACKNOWLEDGED_BEFORE_KILL and time.monotonic() < deadline and not stream.refused:
            time.sleep(0.01)
        server.kill()
        assert stream.inflight, "the clients had stopped before the kill"
    finally:
        stream.stop.set()
        server.kill()
    for t in clients:
        t.join(30)
    assert not stream.refused, stream.refused
    assert len(stream.acked) >= ACKNOWLEDGED_BEFORE_KILL
    return stream, tokens


def _everything_acknowledged_is_there(base: str, stream: Stream, tokens: dict[str, str]) -> None:
    """Every acknowledged PUT is there with its text (or the text of a later one in flight),
    bjorn's copy says the same, and the tokens taken before the kill list them all."""
    anna, bjorn = Dav(base, "anna"), Dav(base, "bjorn")
    try:
        r = anna.multiget("anna/meetings/", [f"/anna/meetings/{href}" for href in stream.acked])
        assert r.status_code == 207, r.text
        texts = {x.href.rsplit("/", 1)[-1]: x.props.get(C + "calendar-data") for x in responses(r)}
        summaries = {}
        for href, summary in stream.acked.items():
            assert texts.get(href), f"{href} was acknowledged and is gone"
            summaries[href] = _summary(texts[href] or "")
            assert summaries[href] in {summary, stream.inflight.get(href)}, href
        invited = sorted(set(stream.acked) & stream.invited)
        r = bjorn.multiget("bjorn/meetings/", [f"/bjorn/meetings/{href}" for href in invited])
        assert r.status_code == 207, r.text
        copies = {x.href.rsplit("/", 1)[-1]: _summary(x.props.get(C + "calendar-data") or "") for x in responses(r)}
        assert copies == {href: summaries[href] for href in invited}, "a change half-written"
        for who, dav, expected in (("anna", anna, set(stream.acked)), ("bjorn", bjorn, set(invited))):
            r = dav.sync(f"{who}/meetings/", tokens[who])
            assert r.status_code == 207, r.text
            assert expected <= {x.href.rsplit("/", 1)[-1] for x in responses(r)}
    finally:
        anna.session.close()
        bjorn.session.close()


def _summary(text: str) -> str:
    found = re.findall(r"^SUMMARY:(.*)$", unfold(text), re.M)
    return found[0] if len(found) == 1 else repr(found)


KILLED_MIDWAY = """
import os, signal, sys
from server.cli.main import main
from server.services import projection

real, calls = projection.project_new, []

def project_new(uow, d, followups):
    real(uow, d, followups)
    calls.append(len(followups))
    if len(calls) == 2:
        os.kill(os.getpid(), signal.SIGKILL)

projection.project_new = project_new
main(["--database", sys.argv[1], "demo"])
"""


def test_a_bulk_load_killed_midway_leaves_nothing(engine: Engine, db_url: str,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """``followups demo``, the CLI's bulk load (one transaction), killed with SIGKILL in
    the middle of its follow-ups (the second batch written, not committed): none of it is
    there, and the calendars are consistent. (That what was committed survives a kill is
    what the PUT stream shows for every acknowledged write.)"""
    proc = subprocess.run([sys.executable, "-W", "error", "-c", KILLED_MIDWAY, db_url], cwd=ROOT, env=_env(),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    _check(db_url, capsys)
    with transaction(engine, write=False) as uow:
        assert (uow.users.list(), uow.followups.count()) == ([], 0)
    engine.dispose()


def _recipe(name: str) -> list[str]:
    """The lines of the shell block after ``<!-- recipe: NAME -->`` in docs/backup.md."""
    doc = (ROOT / "docs" / "backup.md").read_text(encoding="utf-8")
    found = re.search(rf"<!-- recipe: {name} -->\n```sh\n(.*?)\n```", doc, re.S)
    assert found, f"docs/backup.md has no recipe {name}"
    return found.group(1).splitlines()


def test_the_documented_sqlite_backup_runs_while_a_server_writes(tmp_path: Path) -> None:
    """docs/backup.md's SQLite recipe, run as written (its two paths set to this test's)
    during a stream of PUTs: the copy is owner-only, consistent (its `followups check`,
    the recipe's last line, exits 0) and holds what was written before it started."""
    store = tmp_path / "live" / "followups.db"
    url = f"sqlite:///{store}"
    live, thread, httpd = start_server(url)
    add_people(live.engine)
    stream = Stream()
    writer = threading.Thread(target=stream.client, args=(live.url, 0), daemon=True)
    writer.start()
    try:
        deadline = time.monotonic() + 60
        while stream.count() < 5 and time.monotonic() < deadline and not stream.refused:
            time.sleep(0.01)
        before = stream.count()
        for suffix in ("", "-wal", "-shm"):  # SQLite gives its side files the store's mode
            assert stat.S_IMODE(Path(f"{store}{suffix}").stat().st_mode) == 0o600, suffix
        lines = _recipe("sqlite-backup")
        assert lines[0].startswith("STORE=") and lines[1].startswith("BACKUP=")
        backup = tmp_path / "backups" / "followups-copy.db"
        script = "\n".join([f"STORE={store}", f"BACKUP={backup}", *lines[2:]])
        env = {**_env(), "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
        proc = subprocess.run(["bash", "-e", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=120)
        during = stream.count() - before
    finally:
        stream.stop.set()
        writer.join(30)
        stop_server(live, thread, httpd)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "the calendars match the follow-ups" in proc.stdout
    assert not stream.refused, stream.refused
    assert during > 0, "the server wrote nothing while the backup ran"
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    assert stat.S_IMODE(backup.parent.stat().st_mode) == 0o700
    copy = create_engine(f"sqlite:///{backup}")
    with copy.connect() as conn:
        held = conn.execute(text("SELECT count(*) FROM calendar_objects o JOIN collections c "
                                 "ON c.id = o.collection_id WHERE c.principal = 'anna'")).scalar_one()
    copy.dispose()
    assert held >= before
