"""What the load test runs against: seeded users with meetings, and the server
under load (``followups serve`` or vanilla Radicale 3.9), in a fresh PostgreSQL
schema when asked."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import quote

from benchmarks import data, servers

MEETINGS = "meetings"
PASSWORD = "load-password"


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def cpu_seconds(pid: int) -> float:
    """User and system CPU of a process and all its descendants (Linux /proc;
    NaN elsewhere): the server's cost, whatever else the machine runs."""
    ticks, todo = 0, [pid]
    try:
        while todo:
            current = todo.pop()
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])
            for task in Path(f"/proc/{current}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
    except (OSError, ValueError, IndexError):
        if not ticks:
            return float("nan")
    return ticks / os.sysconf("SC_CLK_TCK")


def seed(url: str, users: int, meetings: int, seed_value: int) -> list[str]:
    """U users with M meetings each, created through server.services (with passwords)."""
    from server.services import followups as services
    from server.services.transaction import transaction
    from store import db
    from store.domain import Company, Followup, Kind, Person, Resource, ResourceKind, User

    engine = services.open_store(url)
    with transaction(engine, write=False) as uow:
        if uow.followups.count() or uow.users.list():
            raise SystemExit(f"load: {url} already holds data; give an empty database")
    rooms = [services.add_resource(engine, Resource(f"load-room-{n}", f"Room {n}", ResourceKind.ROOM,
                                                    f"load-room-{n}@example.com")) for n in range(1, 4)]
    with transaction(engine, actor="load") as uow:
        companies = [uow.companies.add(Company(f"Customer {n}")) for n in range(1, 6)]
        persons = [uow.persons.add(Person(f"Contact {n}", companies[n % 5].id, f"contact{n}@customer.example"))
                   for n in range(1, 21)]
        types = uow.types.list()
        uow.commit()
    logins = [f"load{n:03d}" for n in range(users)]
    followups: list[Followup] = []
    for n, login in enumerate(logins):
        user = services.add_user(engine, User(login, f"Load User {n}", f"{login}@example.com", tz="Europe/Oslo"),
                                 PASSWORD)
        directory = data.BenchDirectory(user, rooms, persons, types)
        mine: list[Followup] = []
        attempt = 0
        while len(mine) < meetings:
            made = data.generate(directory, 2 * meetings, seed_value + 1000 * n + attempt)
            mine += [f for f in made if f.kind is Kind.MEETING]
            attempt += 1
        followups += mine[:meetings]
    services.create_many(engine, followups, actor="load")
    db.dispose_all()
    return logins


def start_ours(url: str, workdir: Path, workers: int) -> servers.ServerProcess:
    """``followups serve --port 0`` with the default login delay; the port is read
    from the ``CalDAV URL:`` line it prints."""
    env = {k: v for k, v in os.environ.items() if k not in ("FOLLOWUPS_CONFIG", "FOLLOWUPS_AUTH_DELAY")}
    argv = [sys.executable, "-m", "server.cli", "--database", url, "serve", "--config", "", "--host", "127.0.0.1",
            "--port", "0", "--workers", str(workers)]
    log_path = workdir / "server.log"
    log = open(log_path, "ab")  # closed by ServerProcess.stop
    process = subprocess.Popen(argv, cwd=servers.ROOT, stdout=log, stderr=subprocess.STDOUT, env=env,
                               stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if found := re.search(r"CalDAV URL: http://[^:/]+:(\d+)/", log_path.read_text("utf-8", "replace")):
            server = servers.ServerProcess("our server", int(found[1]), process, log)
            server.wait_ready()
            return server
        if process.poll() is not None:
            break
        time.sleep(0.05)
    servers.ServerProcess("our server", 0, process, log).stop()
    raise SystemExit(f"load: the server did not start: {log_path.read_text('utf-8', 'replace')[-2000:]}")


def start_radicale(url: str, workdir: Path, logins: list[str]) -> servers.ServerProcess:
    """Radicale's filesystem storage holding the very texts our store rendered."""
    from server.services.followups import open_store
    from store import db

    engine = open_store(url)
    setup = None
    for login in logins:
        setup = servers.write_radicale(workdir, login, PASSWORD, {MEETINGS: data.stored_texts(engine, login)[MEETINGS]})
    db.dispose_all()
    assert setup is not None
    (workdir / "radicale" / "users").write_text("".join(f"{u}:{PASSWORD}\n" for u in logins), encoding="utf-8")
    return servers.start_radicale(setup, workdir)


class Schema:
    """A fresh PostgreSQL schema for the run (the URL's search_path set to it), dropped afterwards."""

    def __init__(self, url: str, keep: bool = False, prefix: str = "load_") -> None:
        from sqlalchemy import create_engine

        from store import db

        self.keep = keep
        self.name = prefix + uuid.uuid4().hex[:12]
        self.admin = create_engine(db.normalize_url(url), isolation_level="AUTOCOMMIT")
        self.url = f"{url}{'&' if '?' in url else '?'}options={quote(f'-csearch_path={self.name}')}"

    def __enter__(self) -> Schema:
        from sqlalchemy import text

        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{self.name}"'))
        return self

    def __exit__(self, *exc: object) -> None:
        from sqlalchemy import text

        from store import db

        db.dispose_all()
        if self.keep:
            progress(f"keeping schema {self.name}")
        else:
            with self.admin.connect() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{self.name}" CASCADE'))
        self.admin.dispose()
