"""Two ``followups serve`` processes (standing in for two hosts) on one
PostgreSQL schema, raced by many clients and by the CRM (issue 11, item 2).

Every write takes the store's one write lock first (``store.db``), so the
races below have exactly one winner, nothing is lost and nothing deadlocks;
the tests check that from outside, over HTTP, whichever process answers.
"""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from sqlalchemy import Engine

from server.services import followups as services
from store import db
from store.domain import Followup
from store.uow import UnitOfWork
from tests.server.caldav_support import (
    Dav,
    add_people,
    drop_schema,
    followups_by_uid,
    make_url,
    prop_lines,
    responses,
    sync_token,
    unfold,
    vevent,
)

pytestmark = pytest.mark.postgres

CLIENTS = 6
"""Racing clients, half on each process."""


@dataclass
class Hosts:
    database: str
    engine: Engine
    urls: list[str]
    logs: list[Path]
    tally: Counter[str] = field(default_factory=Counter)
    clients: list[Dav] = field(default_factory=list)

    def dav(self, login: str, host: int) -> Dav:
        """A new client (its own keep-alive connection) of ``login`` on process ``host``."""
        client = Dav(self.urls[host % len(self.urls)], login)
        self.clients.append(client)
        return client

    def close_clients(self) -> None:
        for client in self.clients:
            client.session.close()
        self.clients.clear()

    def errors(self) -> list[str]:
        """Lines of the servers' logs that tell of a 5xx or a traceback."""
        found = []
        for log in self.logs:
            found += [line for line in log.read_text(errors="replace").splitlines()
                      if "Traceback" in line or re.search(r"\b5\d\d\b", line) and "status" in line.lower()]
        return found


def _serve(database: str, folder: Path, n: int) -> tuple[subprocess.Popen[bytes], str, Path]:
    """``followups serve`` on a free port: the process, its URL (read from its
    ``CalDAV URL:`` line) and its log file."""
    out, err = folder / f"serve{n}.out", folder / f"serve{n}.log"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "server.cli", "serve", "--host", "127.0.0.1", "--port", "0", "--database",
             database, "--auth-delay", "0", "--config", ""],
            stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = re.search(r"CalDAV URL: (http://\S+)", out.read_text(errors="replace"))
        if found:
            return proc, found.group(1).rstrip("/") + "/", err
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.kill()
    raise AssertionError(f"serve did not start: {err.read_text(errors='replace')[-2000:]}")


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hosts]:
    folder = tmp_path_factory.mktemp("races")
    url, schema = make_url("postgres", folder)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        engine = services.open_store(url)
        add_people(engine)
        started = [_serve(url, folder, n) for n in range(2)]
        procs = [p for p, _, _ in started]
        yield Hosts(url, engine, [u for _, u, _ in started], [log for _, _, log in started])
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        db.dispose_all()
        drop_schema(schema)


@pytest.fixture
def hosts(servers: Hosts) -> Iterator[Hosts]:
    """The two processes, their clients closed after each test."""
    try:
        yield servers
    finally:
        servers.close_clients()


def _race(n: int, work: Callable[[int, threading.Barrier], None]) -> None:
    """``work(i, barrier)`` in ``n`` threads; re-raises the first failure."""
    barrier = threading.Barrier(n, timeout=60)
    failures: list[BaseException] = []

    def run(i: int) -> None:
        try:
            work(i, barrier)
        except BaseException as exc:  # noqa: B036 (re-raised in the main thread)
            failures.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    if failures:
        raise failures[0]


def _summary(text: str) -> str:
    return prop_lines(text, "SUMMARY")[0].split(":", 1)[1]


def _description(text: str) -> str:
    lines = prop_lines(text, "DESCRIPTION")
    return lines[0].split(":", 1)[1].replace("\\n", "\n").replace("\\,", ",") if lines else ""


# -- a) If-Match updates ------------------------------------------------------------------


def test_if_match_races_have_one_winner_per_round(hosts: Hosts) -> None:
    uid = str(uuid.uuid4())
    path = f"anna/meetings/{uid}.ics"
    assert hosts.dav("anna", 0).put(path, vevent(uid, "start")).status_code == 201
    clients = [hosts.dav("anna", i) for i in range(CLIENTS)]
    rounds = 8
    statuses: list[list[int]] = [[0] * CLIENTS for _ in range(rounds)]

    def work(i: int, barrier: threading.Barrier) -> None:
        for r in range(rounds):
            etag = clients[i].get(path).headers["ETag"]
            barrier.wait()
            got = clients[i].put(path, vevent(uid, f"round {r} client {i}"), If_Match=etag)
            statuses[r][i] = got.status_code
            barrier.wait()

    _race(CLIENTS, work)
    final = _summary(unfold(clients[0].get(path).text))
    for answers in statuses:
        assert sorted(answers) == [204] + [412] * (CLIENTS - 1), answers
    last = statuses[-1].index(204)
    assert final == f"round {rounds - 1} client {last}"  # the last winner's text: no lost update
    hosts.tally.update(rounds=rounds, winners=sum(a.count(204) for a in statuses),
                       refused=sum(a.count(412) for a in statuses))


# -- b) same-UID creates ------------------------------------------------------------------


def test_same_uid_creates_have_one_winner(hosts: Hosts) -> None:
    clients = [hosts.dav("anna", i) for i in range(CLIENTS)]
    rounds = 8
    statuses: list[list[int]] = [[0] * CLIENTS for _ in range(rounds)]
    uids = [str(uuid.uuid4()) for _ in range(rounds)]

    def work(i: int, barrier: threading.Barrier) -> None:
        for r, uid in enumerate(uids):
            href = f"{uid}.ics" if i % 2 == 0 else f"{uid}-{i}.ics"  # the same href, or the same UID elsewhere
            barrier.wait()
            got = clients[i].put(f"anna/meetings/{href}", vevent(uid, f"client {i}"), If_None_Match="*")
            statuses[r][i] = got.status_code

    _race(CLIENTS, work)
    for r, answers in enumerate(statuses):
        assert answers.count(201) == 1, answers
        assert all(a in (201, 409, 412) for a in answers), answers
        assert len(followups_by_uid(hosts.engine, uids[r])) == 1
    hosts.tally.update(create_rounds=rounds, create_conflicts=sum(a.count(409) for a in statuses),
                       create_refused=sum(a.count(412) for a in statuses))


# -- c) the CRM and clients on one object ------------------------------------------------


def test_a_client_put_with_an_etag_read_before_a_crm_change_is_refused(hosts: Hosts) -> None:
    uid = str(uuid.uuid4())
    path = f"anna/meetings/{uid}.ics"
    dav = hosts.dav("anna", 1)
    assert dav.put(path, vevent(uid, "client")).status_code == 201
    etag = dav.get(path).headers["ETag"]
    (f,) = followups_by_uid(hosts.engine, uid)
    services.modify(hosts.engine, f.id, lambda f, _uow: setattr(f, "title", "crm"))
    assert dav.put(path, vevent(uid, "client again"), If_Match=etag).status_code == 412
    assert _summary(unfold(dav.get(path).text)) == "crm"


def _append(mark: str) -> Callable[[Followup, UnitOfWork], None]:
    """A CRM change that reads the agenda, works 20 ms (as a slow CLI would)
    and writes it back with ``mark`` at its end."""

    def change(f: Followup, _uow: UnitOfWork) -> None:
        agenda = f.agenda
        time.sleep(0.02)
        f.agenda = (agenda + " " + mark).strip()

    return change


def test_crm_updates_racing_client_puts_lose_nothing(hosts: Hosts) -> None:
    """Each writer appends its own mark to the agenda (a read-modify-write):
    every acknowledged write must be in the final text."""
    uid = str(uuid.uuid4())
    path = f"anna/meetings/{uid}.ics"
    assert hosts.dav("anna", 0).put(path, vevent(uid, "agenda")).status_code == 201
    (f,) = followups_by_uid(hosts.engine, uid)
    acknowledged: list[str] = []
    lock = threading.Lock()
    per_writer = 5
    client_412 = 0

    def crm(i: int) -> None:
        for n in range(per_writer):
            mark = f"crm{i}.{n}"
            services.modify(hosts.engine, f.id, _append(mark))
            with lock:
                acknowledged.append(mark)

    def client(i: int) -> None:
        nonlocal client_412
        dav = hosts.dav("anna", i)
        for n in range(per_writer):
            mark = f"dav{i}.{n}"
            while True:
                got = dav.get(path)
                agenda = (_description(unfold(got.text)) + " " + mark).strip()
                body = vevent(uid, "agenda", extra=(f"DESCRIPTION:{agenda}",))
                answer = dav.put(path, body, If_Match=got.headers["ETag"])
                if answer.status_code == 412:
                    with lock:
                        client_412 += 1
                    continue
                assert answer.status_code == 204, answer.text
                break
            with lock:
                acknowledged.append(mark)

    def work(i: int, barrier: threading.Barrier) -> None:
        barrier.wait()
        (crm if i < 2 else client)(i)

    _race(6, work)
    final = _description(unfold(hosts.dav("anna", 1).get(path).text)).split()
    assert sorted(final) == sorted(acknowledged), set(acknowledged) - set(final)  # nothing lost, nothing twice
    hosts.tally.update(crm_writes=2 * per_writer, client_writes=4 * per_writer, client_412=client_412)


# -- d) users inviting each other ---------------------------------------------------------


def _invitation(organizer: str, invitee: str, uid: str, n: int) -> str:
    start = datetime(2026, 4, 1, 8, tzinfo=UTC) + timedelta(hours=n)
    return vevent(uid, f"from {organizer}", start=start, extra=(
        f"ORGANIZER:mailto:{organizer}@example.com",
        f"ATTENDEE;PARTSTAT=ACCEPTED:mailto:{organizer}@example.com",
        f"ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:{invitee}@example.com",
        "ATTENDEE;CUTYPE=ROOM;PARTSTAT=NEEDS-ACTION:mailto:fjord@example.com"))


def test_users_inviting_each_other_at_once_never_get_a_5xx(hosts: Hosts) -> None:
    rounds = 12
    statuses: Counter[int] = Counter()
    lock = threading.Lock()
    pairs = [("anna", "bjorn"), ("bjorn", "anna")]

    def work(i: int, barrier: threading.Barrier) -> None:
        organizer, invitee = pairs[i % 2]
        dav = hosts.dav(organizer, i)
        for r in range(rounds):
            uid = f"inv-{i}-{r}-{uuid.uuid4().hex[:6]}"
            barrier.wait()
            created = dav.put(f"{organizer}/meetings/{uid}.ics", _invitation(organizer, invitee, uid, r))
            changed = dav.put(f"{organizer}/meetings/{uid}.ics", _invitation(organizer, invitee, uid, r + 1))
            with lock:
                statuses.update([created.status_code, changed.status_code])

    _race(4, work)
    assert statuses == Counter({201: 4 * rounds, 204: 4 * rounds}), statuses
    hosts.tally.update(invitation_requests=sum(statuses.values()),
                       invitation_5xx=sum(n for s, n in statuses.items() if s >= 500))


# -- e) sync by token, whichever process answers -------------------------------------------


class Mirror:
    """A client's copy of one collection, kept only by sync-collection with its
    last token, asking each process in turn."""

    def __init__(self, hosts: Hosts, login: str, collection: str) -> None:
        self.clients = [hosts.dav(login, 0), hosts.dav(login, 1)]
        self.path = f"{login}/{collection}/"
        self.token = ""
        self.etags: dict[str, str] = {}
        self.seen: Counter[tuple[str, str]] = Counter()
        self.syncs = 0

    def sync(self) -> None:
        dav = self.clients[self.syncs % 2]
        self.syncs += 1
        r = dav.sync(self.path, self.token)
        assert r.status_code == 207, r.text
        for x in responses(r):
            if x.status is not None and " 404 " in x.status + " ":
                self.etags.pop(x.href, None)
            else:
                etag = x.props["{DAV:}getetag"]
                self.etags[x.href] = etag
                self.seen[x.href, etag] += 1
        self.token = sync_token(r)


def test_every_change_is_synced_exactly_once_from_either_process(hosts: Hosts) -> None:
    mirrors = [Mirror(hosts, "anna", "meetings"), Mirror(hosts, "bjorn", "meetings")]
    for m in mirrors:
        m.sync()
    stop = threading.Event()
    reported: list[tuple[str, str]] = []

    def writer(i: int) -> None:
        dav = hosts.dav("anna", i)
        for n in range(9):
            uid = f"sync-{i}-{n}-{uuid.uuid4().hex[:6]}"
            path = f"anna/meetings/{uid}.ics"
            assert dav.put(path, _invitation("anna", "bjorn", uid, n)).status_code == 201
            assert dav.put(path, _invitation("anna", "bjorn", uid, n + 2)).status_code == 204
            if n % 3 == 0:
                assert dav.delete(path).status_code in (200, 204)

    def syncer(m: Mirror) -> None:
        while not stop.is_set():
            m.sync()

    sync_threads = [threading.Thread(target=syncer, args=(m,)) for m in mirrors]
    for t in sync_threads:
        t.start()
    try:
        _race(2, lambda i, _b: writer(i))
    finally:
        stop.set()
        for t in sync_threads:
            t.join(60)
    for m in mirrors:
        m.sync()
        for host in (0, 1):
            assert m.etags == hosts.dav(m.path.split("/")[0], host).etags(m.path)
        twice = [key for key, n in m.seen.items() if n > 1]
        assert not twice, twice  # no version reported again by a later token
        reported += list(m.seen)
    assert len([h for h in mirrors[0].etags if "/sync-" in h]) == 2 * 6  # the other 6 were deleted
    assert mirrors[0].syncs > 3
    hosts.tally.update(sync_rounds=sum(m.syncs for m in mirrors), versions_synced=len(reported))


def test_no_server_logged_an_error(hosts: Hosts) -> None:
    """Runs last: neither process logged a 5xx or a traceback during the races."""
    assert not hosts.errors()
    hosts.tally.update(retries=sum(log.read_text(errors="replace").count("refused to serialize") for log in hosts.logs))
    print("\nraces:", dict(hosts.tally))
    for url in hosts.urls:
        assert requests.get(url, timeout=10).status_code < 500
