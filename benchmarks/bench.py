"""Benchmark: this server against vanilla Radicale 3.9 on the same objects.

    python -m benchmarks.bench --n 10000 [--repeat 5] [--database URL] [--out FILE]
    python -m benchmarks.bench --database postgresql://postgres@127.0.0.1:5432/test
    python -m benchmarks.bench --check-only          # CI: N=200, one repetition

Builds N follow-ups of one user (a seeded, realistic mix; see
``benchmarks.data``), bulk-loads them through ``services.create_many``
(timed: follow-ups per second, rendering included), writes the very texts our
store rendered into Radicale's filesystem storage, starts both servers as
subprocesses and times real CalDAV requests against each, checking every
answer. Exits 1 when an answer is wrong; timings are reported, never asserted.

On PostgreSQL the run gets a schema of its own in the given database, dropped
afterwards (as the load test and the test suite do), so a shared server can be
used without emptying it; the report names the database and its version.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import shlex
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks import data as data
from benchmarks import dav as dav
from benchmarks import report as report
from benchmarks import servers as servers
from benchmarks.loadsetup import Schema
from benchmarks.report import OURS, RADICALE, Results
from server.services.projection import MEETINGS, TASKS
from server.services.transaction import transaction
from store.domain import User

COLLECTIONS = (MEETINGS, TASKS)


@dataclass
class Side:
    """One server under test and what it must hold."""

    key: str
    process: servers.ServerProcess
    members: dict[str, set[str]]
    queried: dict[str, set[str]] = field(default_factory=dict)
    busy: dict[str, list[tuple[datetime, datetime]]] | None = None
    """The free/busy answer of the week: merged UTC periods by FBTYPE."""

    @property
    def client(self) -> dav.Client:
        return dav.Client(self.process.port, data.LOGIN, data.PASSWORD)


@dataclass
class Bench:
    args: argparse.Namespace
    workdir: Path
    database: str
    dataset: data.Dataset | None = None
    radicale: servers.RadicaleSetup | None = None
    results: Results = field(default_factory=Results)

    @property
    def ds(self) -> data.Dataset:
        assert self.dataset is not None
        return self.dataset


def path_of(coll: str, href: str = "") -> str:
    return f"/{data.LOGIN}/{coll}/{href}"


# -- loading -------------------------------------------------------------------------------


def load(b: Bench) -> None:
    """Our store via create_many (timed), then Radicale's folder from what it rendered."""
    from server.services import followups as services
    from store import db

    engine = services.open_store(b.database)
    with transaction(engine, write=False) as uow:
        if uow.followups.count() or uow.users.list():
            raise SystemExit(f"bench: {b.database} already holds data; give an empty database")
    directory = data.setup_directory(engine)
    followups = data.generate(directory, b.args.n, b.args.seed)
    started = time.perf_counter()
    services.create_many(engine, followups, actor="bench")
    b.results.bulk_seconds, b.results.bulk_count = time.perf_counter() - started, len(followups)
    b.dataset = data.Dataset(directory, followups, data.stored_texts(engine))
    if b.args.others:
        load_others(b, engine, directory)
    db.dispose_all()
    b.radicale = servers.write_radicale(b.workdir, data.LOGIN, data.PASSWORD, b.ds.texts)


def load_others(b: Bench, engine: Any, directory: data.BenchDirectory) -> None:
    """``--others`` users with ``--others-n`` follow-ups each (the same mix, the
    same rooms and contacts), bulk-loaded user by user after the bench user's:
    the store the bench user's requests then run in. Radicale gets none of them."""
    from server.services import followups as services

    started = time.perf_counter()
    for k in range(b.args.others):
        login = f"other{k:05d}"
        user = services.add_user(engine, User(login, f"Other User {k}", f"{login}@example.com", tz="Europe/Oslo"))
        mine = data.generate(dataclasses.replace(directory, user=user), b.args.others_n, b.args.seed + 1 + k)
        services.create_many(engine, mine, actor="bench")
        b.results.others_count += len(mine)
        if (k + 1) % max(1, b.args.others // 20) == 0:
            seconds = time.perf_counter() - started
            progress(f"other users: {k + 1}/{b.args.others}, {b.results.others_count:,} follow-ups, "
                     f"{b.results.others_count / seconds:,.0f}/s")
    b.results.others_seconds = time.perf_counter() - started


def describe(b: Bench) -> list[str]:
    kinds: dict[str, int] = {}
    for f in b.ds.followups:
        label = "recurring meetings" if f.recurrence else f"{f.kind.value}s"
        kinds[label] = kinds.get(label, 0) + 1
    week = data.expected_week(b.ds.followups)
    return [f"- dataset: {b.args.n} follow-ups over {data.span_days(b.args.n)} days from {data.FIRST_DAY} "
            f"(seed {b.args.seed}): "
            + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
            + f"; /bench/meetings/ holds {len(b.ds.texts[MEETINGS])} objects, /bench/tasks/ "
            f"{len(b.ds.texts[TASKS])}; the one-week query ({data.WEEK_START:%Y-%m-%d %H:%M}Z + 7 days) expects "
            f"{len(week[MEETINGS])} meetings and {len(week[TASKS])} tasks"]


# -- one repetition on one server -------------------------------------------------------------


def _step(b: Bench, side: Side, what: str, run: Callable[[], None]) -> None:
    try:
        run()
    except (dav.WrongAnswer, OSError, ValueError) as exc:
        b.results.errors.append(f"{side.key}: {what}: {exc}")


def _same(b: Bench, side: Side, what: str, got: set[str], want: set[str]) -> None:
    if got != want:
        b.results.errors.append(f"{side.key}: {what}: {len(got - want)} unexpected, {len(want - got)} missing "
                                f"(e.g. {sorted(got ^ want)[:3]})")


def _changed_href(b: Bench, coll: str, rep: int) -> str:
    hrefs = sorted(b.ds.texts[coll])
    return hrefs[(rep * 7919) % len(hrefs)]


def _spare_hrefs(b: Bench, coll: str) -> list[str]:
    """Objects no other step looks at: outside the queried week, not recurring,
    never the incremental sync's; the changed PUT and DELETE take theirs from here."""
    busy = data.expected_week(b.ds.followups)[coll] | data.recurring_hrefs(b.ds.followups)
    busy |= {_changed_href(b, coll, rep) for rep in range(b.args.repeat)}
    return sorted(set(b.ds.texts[coll]) - busy)


def _edited_href(b: Bench, coll: str, rep: int) -> str:
    spare = _spare_hrefs(b, coll)
    return spare[(2 * len(spare) // 3 + rep) % len(spare)]


def _deleted_href(b: Bench, coll: str, rep: int) -> str:
    spare = _spare_hrefs(b, coll)
    return spare[(len(spare) // 3 + rep) % len(spare)]


def measure_collection(b: Bench, side: Side, coll: str, rep: int) -> None:
    c, r, base = side.client, b.results, path_of(coll)
    token = ""

    def propfind() -> None:
        seconds, names = dav.propfind_etags(c, base)
        r.add("propfind", coll, side.key, seconds)
        _same(b, side, f"PROPFIND {base}", names, side.members[coll])

    def ctag() -> None:
        r.add("ctag", coll, side.key, dav.getctag(c, base)[0])

    def initial() -> None:
        nonlocal token
        seconds, token, got = dav.initial_sync(c, base)
        r.add("initial", coll, side.key, seconds)
        _same(b, side, f"initial sync {base}", set(got), side.members[coll])
        r.check(all("BEGIN:VCALENDAR" in text for text in got.values()),
                f"{side.key}: initial sync {base}: an object without calendar-data")

    def incremental() -> None:
        href = _changed_href(b, coll, rep)
        dav.put(c, base + href, data.changed_text(b.ds.texts[coll][href], rep), new=False)
        seconds, _token, changed, removed = dav.sync_collection(c, base, token)
        r.add("incremental", coll, side.key, seconds)
        _same(b, side, f"incremental sync {base}", changed | removed, {href})

    def query() -> None:
        seconds, names = dav.calendar_query(c, base, data.COMPONENT_OF[coll], data.WEEK_START, data.WEEK_END)
        r.add("query", coll, side.key, seconds)
        side.queried[coll] = names
        check_query(b, side, coll, names)

    def put_new() -> None:
        href, text = data.new_object(b.ds.directory, coll, rep)
        r.add("put", coll, side.key, dav.put(c, base + href, text, new=True))
        side.members[coll].add(href)

    def put_changed() -> None:
        href = _edited_href(b, coll, rep)
        etag, text = dav.get_object(c, base + href)
        edit = 1000 + rep
        r.add("put_changed", coll, side.key, dav.put_changed(c, base + href, data.changed_text(text, edit), etag))
        r.check(f"(edit {edit})" in dav.get_object(c, base + href)[1].replace("\r\n ", "").replace("\n ", ""),
                f"{side.key}: PUT of a changed {base + href}: a later GET does not show the change")

    def delete() -> None:
        href = _deleted_href(b, coll, rep)
        etag, _text = dav.get_object(c, base + href)
        r.add("delete", coll, side.key, dav.delete(c, base + href, etag))
        # Put it back (untimed): Radicale reports a deleted href as removed even to a sync
        # from no token, which the next repetition's initial sync would count as wrong.
        dav.put(c, base + href, b.ds.texts[coll][href], new=True)

    def get() -> None:
        seconds, uids = dav.get_collection(c, base)
        r.add("get", coll, side.key, seconds)
        _same(b, side, f"GET {base}", {f"{u}.ics" for u in uids}, side.members[coll])

    for what, run in (("PROPFIND depth 1", propfind), ("getctag", ctag), ("initial sync", initial),
                      ("incremental sync", incremental), ("calendar-query", query), ("PUT", put_new),
                      ("PUT of a change", put_changed), ("DELETE", delete), ("GET", get)):
        if what == "incremental sync" and not token:
            continue
        _step(b, side, f"{what} {base}", run)


def check_query(b: Bench, side: Side, coll: str, names: set[str]) -> None:
    """Missing objects are wrong; extra ones are wrong unless recurring (RFC 4791
    lets a server that cannot expand a recurrence over-include it)."""
    want = data.expected_week(b.ds.followups)[coll]
    missing, extra = want - names, names - want
    recurring = data.recurring_hrefs(b.ds.followups)
    b.results.check(not missing, f"{side.key}: one-week query {coll}: {len(missing)} missing, e.g. "
                                 f"{sorted(missing)[:3]}")
    b.results.check(extra <= recurring, f"{side.key}: one-week query {coll}: {len(extra - recurring)} "
                                        f"non-recurring objects too many, e.g. {sorted(extra - recurring)[:3]}")
    if extra & recurring:
        note = f"{side.key}: one-week query {coll}: over-includes {len(extra)} recurring objects (allowed)"
        if note not in b.results.notes:
            b.results.notes.append(note)


def first_request(b: Bench, side: Side, row: str) -> None:
    """PROPFIND depth 1 on each collection, right after the process listens."""
    for coll in COLLECTIONS:
        def run(coll: str = coll) -> None:
            seconds, names = dav.propfind_etags(side.client, path_of(coll))
            b.results.add(row, coll, side.key, seconds)
            _same(b, side, f"first PROPFIND {path_of(coll)}", names, side.members[coll])

        _step(b, side, f"first request {row}", run)


# -- free/busy of the week (RFC 4791 7.10) ---------------------------------------------------

BUSY_TYPES = ("BUSY", "BUSY-TENTATIVE", "BUSY-UNAVAILABLE")
"""FBTYPEs that are busy time; Radicale also lists cancelled events' time as FREE."""


def freebusy_query(c: dav.Client, coll: str, start: datetime, end: datetime) -> tuple[float, str]:
    """A free-busy-query REPORT on a calendar collection: (seconds, the VCALENDAR)."""
    fmt = "%Y%m%dT%H%M%SZ"
    body = (dav.XML_HEAD + '<C:free-busy-query xmlns:C="urn:ietf:params:xml:ns:caldav">'
            f'<C:time-range start="{start.strftime(fmt)}" end="{end.strftime(fmt)}"/></C:free-busy-query>')
    a = dav._expect(c.request("REPORT", coll, body, {"Depth": "1"}), "free-busy-query", 200)
    return a.seconds, a.body.decode("utf-8")


def _utc(text: str) -> datetime:
    return datetime.strptime(text, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


def merged(periods: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """Overlapping or touching periods as one, in order."""
    out: list[tuple[datetime, datetime]] = []
    for s, e in sorted(periods):
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


def parse_freebusy(text: str) -> dict[str, list[tuple[datetime, datetime]]]:
    """The FREEBUSY periods of one VFREEBUSY by FBTYPE (BUSY when absent), UTC, merged.
    Both servers write UTC start/end periods (RFC 5545 3.8.2.6); a period with a
    duration is refused as an answer this check cannot read."""
    lines = text.replace("\r\n ", "").replace("\n ", "").splitlines()
    if "BEGIN:VFREEBUSY" not in lines or "END:VFREEBUSY" not in lines:
        raise dav.WrongAnswer(f"free-busy-query: no VFREEBUSY in the answer: {text[:300]!r}")
    found: dict[str, list[tuple[datetime, datetime]]] = {}
    for line in lines:
        name, _, value = line.partition(":")
        if name.split(";")[0].upper() != "FREEBUSY":
            continue
        params = dict(p.partition("=")[::2] for p in name.split(";")[1:])
        for period in value.split(","):
            start, _, end = period.partition("/")
            if not end.endswith("Z"):
                raise dav.WrongAnswer(f"free-busy-query: a period this check cannot read: {period!r}")
            found.setdefault(params.get("FBTYPE", "BUSY").upper(), []).append((_utc(start), _utc(end)))
    return {fbtype: merged(periods) for fbtype, periods in found.items()}


def expected_busy(b: Bench) -> list[tuple[datetime, datetime]]:
    """The week's busy time from the dataset: busy, not cancelled meetings and
    made calls of the bench user (it owns every follow-up; nobody invites it)."""
    from store.domain import Kind

    found: list[tuple[datetime, datetime]] = []
    for f in b.ds.followups:
        if not f.busy or f.cancelled or f.start is None or f.end is None:
            continue
        if f.kind is Kind.MEETING:
            found += [(data._instant(s), data._instant(e)) for s, e in data._instances(f)]
        elif f.kind is Kind.CALL and f.made:
            found.append((data._instant(f.start), data._instant(f.end)))
    return merged([(max(s, data.WEEK_START), min(e, data.WEEK_END)) for s, e in found
                   if s < data.WEEK_END and e > data.WEEK_START])


def measure_freebusy(b: Bench, side: Side) -> None:
    c = side.client
    seconds, text = freebusy_query(c, path_of(MEETINGS), data.WEEK_START, data.WEEK_END)
    b.results.add("freebusy", MEETINGS, side.key, seconds)
    side.busy = parse_freebusy(text)


def _all_busy(busy: dict[str, list[tuple[datetime, datetime]]]) -> list[tuple[datetime, datetime]]:
    return merged([p for fbtype in BUSY_TYPES for p in busy.get(fbtype, [])])


def _hours(periods: list[tuple[datetime, datetime]]) -> float:
    return sum((e - s).total_seconds() for s, e in periods) / 3600


def _minus(a: list[tuple[datetime, datetime]], z: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """The parts of periods ``a`` that no period of ``z`` covers."""
    out: list[tuple[datetime, datetime]] = []
    for s, e in a:
        for zs, ze in z:
            if ze <= s or zs >= e:
                continue
            if zs > s:
                out.append((s, zs))
            s = max(s, ze)
        if s < e:
            out.append((s, e))
    return out


def compare_freebusy(b: Bench, ours: Side, theirs: Side) -> None:
    """Ours must be the dataset's busy time (an error if not); Radicale's is compared
    with ours in a note: it reads only the collection's VEVENTs, and our free/busy
    is the user's whole diary (made calls live in /tasks/; mapping spec)."""
    if ours.busy is None or theirs.busy is None:
        return
    want, got, radicale = expected_busy(b), _all_busy(ours.busy), _all_busy(theirs.busy)
    b.results.check(got == want, f"ours: free/busy of the week: {_hours(_minus(got, want)):.2f} h busy too many, "
                                 f"{_hours(_minus(want, got)):.2f} h missing (e.g. {_minus(want, got)[:2]})")
    typed = [{k: v for k, v in side.busy.items() if k in BUSY_TYPES} for side in (ours, theirs) if side.busy]
    free = f"; Radicale also lists {len(theirs.busy['FREE'])} FREE periods" if "FREE" in theirs.busy else ""
    if typed[0] == typed[1]:
        b.results.notes.append(f"free/busy of the week: both servers return the same {len(got)} busy periods "
                               f"({_hours(got):.1f} h){free}")
        return
    if got == radicale:
        b.results.notes.append("free/busy of the week: the same busy time, typed differently (Radicale types an "
                               "event by its STATUS; ours an own meeting BUSY whatever a client wrote, per the "
                               f"mapping spec): ours {sorted(ours.busy)}, Radicale {sorted(theirs.busy)}")
        return
    b.results.notes.append(f"free/busy of the week: the servers differ: {_hours(_minus(got, radicale)):.2f} h busy "
                           f"only in ours (our free/busy is the whole diary: made calls are in /tasks/, which "
                           f"Radicale does not read), {_hours(_minus(radicale, got)):.2f} h only in Radicale")


# -- the run ---------------------------------------------------------------------------------


def start(b: Bench, key: str) -> servers.ServerProcess:
    if key == OURS:
        return servers.start_ours(b.database, b.workdir)
    assert b.radicale is not None
    return servers.start_radicale(b.radicale, b.workdir)


def warm_phase(b: Bench) -> tuple[Side, Side]:
    members = {coll: set(b.ds.texts[coll]) for coll in COLLECTIONS}
    ours = Side(OURS, start(b, OURS), {k: set(v) for k, v in members.items()})
    first_request(b, ours, "restart")
    theirs = Side(RADICALE, start(b, RADICALE), {k: set(v) for k, v in members.items()})
    first_request(b, theirs, "restart")  # Radicale's first start: the files have no cache yet
    for rep in range(b.args.repeat):
        order = (ours, theirs) if rep % 2 == 0 else (theirs, ours)
        for side in order:
            for coll in COLLECTIONS:
                measure_collection(b, side, coll, rep)
            _step(b, side, f"free-busy-query {path_of(MEETINGS)}", functools.partial(measure_freebusy, b, side))
        progress(f"repetition {rep + 1}/{b.args.repeat} done")
    for side in (ours, theirs):
        b.results.rss[side.key] = side.process.peak_rss_mib()
        side.process.stop()
    compare_queries(b, ours, theirs)
    compare_freebusy(b, ours, theirs)
    return ours, theirs


def compare_queries(b: Bench, ours: Side, theirs: Side) -> None:
    for coll in COLLECTIONS:
        a, z = ours.queried.get(coll, set()), theirs.queried.get(coll, set())
        if a != z:
            b.results.notes.append(f"one-week query {coll}: the servers differ: only ours {sorted(a - z)[:5]}, "
                                   f"only Radicale {sorted(z - a)[:5]}")
        else:
            b.results.notes.append(f"one-week query {coll}: both servers return the same {len(a)} objects")


def restart_phase(b: Bench, ours: Side, theirs: Side) -> None:
    assert b.radicale is not None
    for run in range(max(b.args.repeat, b.args.cold_repeat)):
        if run < b.args.repeat - 1:
            ours.process = start(b, OURS)
            first_request(b, ours, "restart")
            ours.process.stop()
        if run < b.args.repeat:
            theirs.process = start(b, RADICALE)
            first_request(b, theirs, "restart_cached")
            theirs.process.stop()
        if run < b.args.cold_repeat - 1:
            servers.drop_radicale_cache(b.radicale)
            theirs.process = start(b, RADICALE)
            first_request(b, theirs, "restart")
            theirs.process.stop()
    progress("restarts done")


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def output(b: Bench, command: str) -> list[str]:
    r = b.results
    store = report.database_name(b.database)
    title = f"## followup-caldav vs Radicale: N = {b.args.n} follow-ups, our store on {store}"
    lines = [title, "", f"- command: `{command}`", *report.machine(b.database), *describe(b),
             f"- CRM bulk load: {r.bulk_count} follow-ups in {r.bulk_seconds:.2f} s = {r.bulk_rate:,.0f}/s "
             f"(services.create_many, rendering included; target >= {report.BULK_TARGET:,.0f}/s)"]
    if b.args.others:
        rate = r.others_count / r.others_seconds if r.others_seconds else 0.0
        lines.append(f"- other users in the store: {b.args.others:,} users with {b.args.others_n:,} follow-ups "
                     f"each, {r.others_count:,} in all, bulk-loaded after the bench user's in "
                     f"{r.others_seconds:,.1f} s = {rate:,.0f}/s (add_user, then create_many per user); "
                     f"the store holds {r.bulk_count + r.others_count:,} follow-ups. Radicale holds the "
                     "bench user's only.")
    lines.append("")
    lines += report.table(r) + [""] + report.method_notes(r, b.args.repeat)
    lines += [f"- note: {n}" for n in r.notes]
    lines.append(f"- answers: {'all checked, all right' if not r.errors else f'{len(r.errors)} WRONG'}")
    lines += [f"  - WRONG: {e}" for e in r.errors]
    return lines


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=None, help="follow-ups in the dataset (default 10000; 200 with "
                                                       "--check-only)")
    p.add_argument("--repeat", type=int, default=None, help="repetitions; medians are reported (default 5)")
    p.add_argument("--cold-repeat", type=int, default=None,
                   help="Radicale restarts without its cache (each parses every item, about a minute at "
                        "N=10000; default: --repeat)")
    p.add_argument("--database", metavar="URL", help="SQLite or PostgreSQL URL of an empty store (default: a "
                                                     "temporary SQLite file)")
    p.add_argument("--fresh-schema", action=argparse.BooleanOptionalAction, default=True,
                   help="PostgreSQL: run in a new schema of that database, dropped afterwards (default); "
                        "--no-fresh-schema uses the URL as given, which must hold an empty store")
    p.add_argument("--out", metavar="FILE", help="also write the markdown report here")
    p.add_argument("--seed", type=int, default=data.SEED, help="dataset seed")
    p.add_argument("--keep", metavar="DIR", help="work in DIR and keep it (database or PostgreSQL schema, "
                                                 "Radicale folder, logs)")
    p.add_argument("--others", type=int, default=0, metavar="K",
                   help="also load K other users into our store (after the bench user), to measure the bench "
                        "user's requests in a large store; Radicale gets none of them (default 0)")
    p.add_argument("--others-n", type=int, default=1000, metavar="M",
                   help="follow-ups of each other user (default 1000)")
    p.add_argument("--check-only", action="store_true",
                   help="CI: small N, one repetition, check every answer; exit 1 on a wrong one")
    args = p.parse_args(argv)
    args.n = args.n or (200 if args.check_only else 10_000)
    args.repeat = args.repeat or (1 if args.check_only else 5)
    args.cold_repeat = args.cold_repeat or args.repeat
    return args


def run(args: argparse.Namespace, workdir: Path, command: str) -> int:
    from store import db

    url = args.database or f"sqlite:///{workdir / 'bench.db'}"
    if not db.normalize_url(url).startswith("postgresql") or not args.fresh_schema:
        return run_on(args, workdir, db.normalize_url(url), command)
    with Schema(url, keep=bool(args.keep), prefix="bench_") as schema:
        progress(f"PostgreSQL schema {schema.name}")
        return run_on(args, workdir, db.normalize_url(schema.url), command)


def run_on(args: argparse.Namespace, workdir: Path, database: str, command: str) -> int:
    b = Bench(args, workdir, database)
    progress(f"loading {args.n} follow-ups")
    load(b)
    progress("starting the servers (Radicale's first request parses every item)")
    ours, theirs = warm_phase(b)
    restart_phase(b, ours, theirs)
    lines = output(b, command)
    print("\n".join(lines), flush=True)
    if args.out:
        Path(args.out).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return 1 if b.results.errors else 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    command = shlex.join([Path(sys.executable).name, "-m", "benchmarks.bench", *(sys.argv[1:] if argv is None
                                                                             else argv)])
    if args.keep:
        workdir = Path(args.keep)
        workdir.mkdir(parents=True, exist_ok=True)
        return run(args, workdir, command)
    with tempfile.TemporaryDirectory(prefix="followups-bench-") as tmp:
        return run(args, Path(tmp), command)


if __name__ == "__main__":
    sys.exit(main())
