"""Load test: simulated CalDAV devices syncing and writing against one server.

    python -m benchmarks.load [--devices 50] [--users 25] [--seconds 60] [--workers 2] [--database URL]
    python -m benchmarks.load --devices 10 --seconds 5 --json      # short run, machine-readable

Seeds U users with M meetings each through ``server.services`` (the benchmark's
realistic mix, see ``benchmarks.data``), starts ``followups serve`` (or, with
``--target radicale``, vanilla Radicale 3.9 on the very texts our store
rendered), and runs D devices in one asyncio loop, each on its own HTTP/1.1
keep-alive connection with Basic auth. Devices of one user share its meetings
calendar, so each sees the others' writes.

A device first syncs from nothing (RFC 6578 sync-collection with an empty
token, then calendar-multiget; done before the clock starts). Then, every
``--interval`` seconds (jittered by +-50%), it runs one *cycle*: PROPFIND depth
0 for CS:getctag; when the ctag moved, sync-collection from its last token and
calendar-multiget of the changed hrefs (RFC 4791 section 7.9); one cycle in
``--write-every`` also PUTs, alternately a new event (If-None-Match: *) and a
change of one it knows (If-Match: its ETag; 412 when another device changed it
first, a conflict rather than an error, RFC 7232 section 3.1).

Errors: answers >= 500, connection resets, timeouts, unexpected 4xx (a failed
login included) and wrong answers. At the end every device syncs once more and
must hold exactly the server's listing (href -> ETag, PROPFIND depth 1), and the
last acknowledged write of every href must be in every device of its user.
Exits 1 on any error or inconsistency; timings are reported, never asserted.
The HTTP client is ``benchmarks.asynchttp``; seeding and the servers are
``benchmarks.loadsetup``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import shlex
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote
from xml.etree import ElementTree as ET

from icalendar import Calendar, Event

from benchmarks import data, dav
from benchmarks.asynchttp import Connection, Reply
from benchmarks.loadsetup import (
    MEETINGS,
    PASSWORD,
    Schema,
    cpu_seconds,
    progress,
    seed,
    start_ours,
    start_radicale,
)

KINDS = {
    "ctag": "PROPFIND depth 0 (getctag)",
    "sync": "sync-collection REPORT",
    "multiget": "calendar-multiget REPORT",
    "put-new": "PUT new event",
    "put-change": "PUT change (If-Match)",
    "cycle": "whole sync cycle",
    "initial-sync": "initial sync-collection (before the clock)",
    "initial-multiget": "initial calendar-multiget (before the clock)",
}
ERROR_KINDS = ("5xx", "connection", "timeout", "unexpected 4xx", "wrong answer")


# -- devices and what they saw ------------------------------------------------------------------


@dataclass
class Device:
    name: str
    user: str
    conn: Connection
    rng: random.Random
    ctag: str = ""
    token: str = ""
    etags: dict[str, str] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)
    cycles: int = 0

    @property
    def coll(self) -> str:
        return f"/{self.user}/{MEETINGS}/"


@dataclass
class Write:
    user: str
    href: str
    kind: str
    marker: str
    done: float


@dataclass
class Stats:
    seconds: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in KINDS})
    errors: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)
    conflicts: int = 0
    requests: int = 0
    connections: int = 0
    retries: int = 0
    writes: list[Write] = field(default_factory=list)
    window: float = 0.0
    server_cpu: float = float("nan")
    client_cpu: float = 0.0
    inconsistent: list[str] = field(default_factory=list)

    def error(self, kind: str, what: str) -> None:
        self.errors[kind] += 1
        if len(self.examples) < 20:
            self.examples.append(f"{kind}: {what}")


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (no interpolation): a value that was measured."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)] if ordered else float("nan")


class Load:
    def __init__(self, args: argparse.Namespace, port: int, server_pid: int) -> None:
        self.args, self.port, self.server_pid, self.stats = args, port, server_pid, Stats()
        self.measuring = False

    def device(self, n: int, user: str) -> Device:
        conn = Connection("127.0.0.1", self.port, user, PASSWORD, self.args.timeout)
        return Device(f"d{n:03d}", user, conn, random.Random(self.args.seed * 1000 + n))

    async def call(self, dev: Device, kind: str, method: str, path: str, body: str = "",
                   headers: dict[str, str] | None = None, ok: Sequence[int] = (207,),
                   conflict: Sequence[int] = ()) -> Reply | None:
        what = f"{dev.name} {method} {path}"
        started = time.perf_counter()
        try:
            reply = await dev.conn.request(method, path, body, headers)
        except TimeoutError:
            self.stats.error("timeout", f"{what}: no answer within {self.args.timeout:g} s")
            return None
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            self.stats.error("connection", f"{what}: {type(exc).__name__}: {exc}")
            return None
        self.stats.requests += self.measuring
        self.record(kind, time.perf_counter() - started)
        if reply.status in ok:
            return reply
        if reply.status in conflict:
            self.stats.conflicts += self.measuring
            return None
        kind = "5xx" if reply.status >= 500 else "unexpected 4xx" if reply.status >= 400 else "wrong answer"
        self.stats.error(kind, f"{what}: HTTP {reply.status}: {reply.body[:200]!r}")
        return None

    def record(self, kind: str, seconds: float) -> None:
        if self.measuring or kind.startswith("initial"):
            self.stats.seconds[kind].append(seconds)

    async def sync(self, dev: Device) -> bool:
        """getctag; when it moved, sync-collection from the last token and multiget of what changed."""
        reply = await self.call(dev, "ctag", "PROPFIND", dev.coll, dav.PROPFIND_CTAG, {"Depth": "0"})
        if reply is None:
            return False
        ctag = ET.fromstring(reply.body).findtext(f".//{dav.CS}getctag") or ""
        if not ctag:
            self.stats.error("wrong answer", f"{dev.name}: no getctag")
            return False
        if ctag == dev.ctag:
            return True
        first = "initial-" if not dev.token else ""
        body = (dav.XML_HEAD + '<D:sync-collection xmlns:D="DAV:">'
                f"<D:sync-token>{dev.token}</D:sync-token><D:sync-level>1</D:sync-level>"
                "<D:prop><D:getetag/></D:prop></D:sync-collection>")
        reply = await self.call(dev, first + "sync", "REPORT", dev.coll, body, {"Depth": "0"})
        if reply is None:
            return False
        ms = dav.parse_multistatus(reply.body, dev.coll)
        if not ms.token:
            self.stats.error("wrong answer", f"{dev.name}: sync-collection without a sync-token")
            return False
        changed = sorted(ms.ok)
        for name in ms.missing:
            dev.etags.pop(name, None)
            dev.texts.pop(name, None)
        for start in range(0, len(changed), dav.MULTIGET_BATCH):
            if not await self.multiget(dev, first + "multiget", changed[start:start + dav.MULTIGET_BATCH]):
                return False
        dev.token, dev.ctag = ms.token, ctag
        return True

    async def multiget(self, dev: Device, kind: str, names: list[str]) -> bool:
        hrefs = "".join(f"<D:href>{dev.coll}{quote(n)}</D:href>" for n in names)
        body = (dav.XML_HEAD + '<C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
                f"<D:prop><D:getetag/><C:calendar-data/></D:prop>{hrefs}</C:calendar-multiget>")
        reply = await self.call(dev, kind, "REPORT", dev.coll, body, {"Depth": "1"})
        if reply is None:
            return False
        ms = dav.parse_multistatus(reply.body, dev.coll)
        for name, prop in ms.ok.items():
            etag, text = prop.findtext(f"{dav.DAV}getetag"), prop.findtext(f"{dav.CALDAV}calendar-data")
            if not etag or not text:
                self.stats.error("wrong answer", f"{dev.name}: multiget {name} without getetag or calendar-data")
                return False
            dev.etags[name], dev.texts[name] = etag, text
        if lost := set(names) - set(ms.ok):
            self.stats.error("wrong answer", f"{dev.name}: multiget lacks {sorted(lost)[:3]}")
            return False
        return True

    async def write(self, dev: Device) -> None:
        """Alternately a new event and a change of a known one, marked so the end can find it."""
        marker = f"[{dev.name}.{dev.cycles}]"
        if dev.cycles // self.args.write_every % 2 == 0 or not dev.texts:
            href, kind = f"load-{dev.name}-{dev.cycles}-{uuid.uuid4().hex[:8]}.ics", "put-new"
            text, headers = new_event(href[:-4], marker, dev.rng), {"If-None-Match": "*"}
        else:
            href, kind = dev.rng.choice(sorted(dev.texts)), "put-change"
            text, headers = retitled(dev.texts[href], marker), {"If-Match": dev.etags[href]}
        headers["Content-Type"] = "text/calendar; charset=utf-8"
        reply = await self.call(dev, kind, "PUT", dev.coll + quote(href), text, headers, ok=(200, 201, 204),
                                conflict=(412,) if kind == "put-change" else ())
        if reply is not None:
            self.stats.writes.append(Write(dev.user, href, kind, marker, time.monotonic()))

    async def cycle(self, dev: Device) -> None:
        started = time.perf_counter()
        if await self.sync(dev):
            if dev.cycles % self.args.write_every == self.args.write_every - 1:
                await self.write(dev)
            self.record("cycle", time.perf_counter() - started)
        dev.cycles += 1

    async def run_device(self, dev: Device, deadline: float) -> None:
        interval = self.args.interval
        next_start = time.monotonic() + dev.rng.uniform(0, interval)
        while True:
            await asyncio.sleep(max(0.0, min(next_start, deadline) - time.monotonic()))
            if time.monotonic() >= deadline:
                return
            await self.cycle(dev)
            next_start += interval * dev.rng.uniform(0.5, 1.5)

    async def run(self, users: list[str]) -> None:
        devices = [self.device(n, users[n % len(users)]) for n in range(self.args.devices)]
        progress(f"{len(devices)} devices: initial sync")
        await asyncio.gather(*(self.sync(dev) for dev in devices))
        progress(f"running for {self.args.seconds:g} s")
        self.measuring = True
        started, cpu, server_cpu = time.monotonic(), time.process_time(), cpu_seconds(self.server_pid)
        await asyncio.gather(*(self.run_device(dev, started + self.args.seconds) for dev in devices))
        self.stats.window = time.monotonic() - started
        self.stats.client_cpu = time.process_time() - cpu
        self.stats.server_cpu = cpu_seconds(self.server_pid) - server_cpu
        self.measuring = False
        progress("final sync and consistency check")
        await asyncio.gather(*(self.sync(dev) for dev in devices))
        await self.check(devices, users)
        for dev in devices:
            self.stats.connections += dev.conn.connects
            self.stats.retries += dev.conn.retries
            await dev.conn.close()

    async def check(self, devices: list[Device], users: list[str]) -> None:
        """Each device holds exactly the server's listing, and the last acknowledged write of every href."""
        listing: dict[str, dict[str, str]] = {}
        for user in users:
            conn = Connection("127.0.0.1", self.port, user, PASSWORD, self.args.timeout)
            reply = await conn.request("PROPFIND", f"/{user}/{MEETINGS}/", dav.PROPFIND_ETAG, {"Depth": "1"})
            await conn.close()
            if reply.status != 207:
                self.stats.inconsistent.append(f"listing of {user}: HTTP {reply.status}")
                continue
            ms = dav.parse_multistatus(reply.body, f"/{user}/{MEETINGS}/")
            listing[user] = {n: p.findtext(f"{dav.DAV}getetag") or "" for n, p in ms.ok.items()}
        last: dict[tuple[str, str], Write] = {}
        for w in sorted(self.stats.writes, key=lambda w: w.done):
            last[w.user, w.href] = w
        for dev in devices:
            want = listing.get(dev.user, {})
            if dev.etags != want:
                differ = sorted(set(dev.etags.items()) ^ set(want.items()))
                self.stats.inconsistent.append(f"{dev.name} ({dev.user}): {len(differ)} (href, ETag) differ from "
                                               f"the server's listing, e.g. {differ[:2]}")
            for (user, href), w in last.items():
                if user == dev.user and w.marker not in dev.texts.get(href, ""):
                    self.stats.inconsistent.append(f"{dev.name} ({user}): {href} lacks the last write {w.marker}")


def new_event(uid: str, marker: str, rng: random.Random) -> str:
    start = datetime(2031, 1, 6, 9, tzinfo=UTC) + timedelta(days=rng.randrange(300), hours=rng.randrange(8))
    event = Event()
    event.add("UID", uid)
    event.add("DTSTAMP", datetime.now(UTC).replace(microsecond=0))
    event.add("DTSTART", start)
    event.add("DTEND", start + timedelta(minutes=45))
    event.add("SUMMARY", f"Load test {marker}")
    cal = Calendar()
    cal.add("PRODID", "-//followup-caldav//load test//EN")
    cal.add("VERSION", "2.0")
    cal.add_component(event)
    return cal.to_ical().decode()


def retitled(text: str, marker: str) -> str:
    """The object with ``marker`` as the SUMMARY of its main component."""
    cal = Calendar.from_ical(text)
    for comp in cal.walk("VEVENT"):
        if "RECURRENCE-ID" not in comp:
            comp.pop("SUMMARY", None)
            comp.add("SUMMARY", f"Changed {marker}")
    return cal.to_ical().decode()


# -- the run and its report ---------------------------------------------------------------------


def summary(args: argparse.Namespace, stats: Stats, backend: str) -> dict[str, Any]:
    writes = Counter(w.kind for w in stats.writes)
    return {
        "target": args.target, "database": backend, "workers": args.workers if args.target == "ours" else 1,
        "devices": args.devices, "users": args.users, "meetings": args.meetings, "seconds": round(stats.window, 2),
        "interval": args.interval, "write_every": args.write_every,
        "requests": stats.requests, "throughput": round(stats.requests / stats.window, 1) if stats.window else 0.0,
        "kinds": {k: {"count": len(v), "p50_ms": round(percentile(v, 0.5) * 1000, 1),
                      "p99_ms": round(percentile(v, 0.99) * 1000, 1),
                      "max_ms": round(max(v) * 1000, 1)} for k, v in stats.seconds.items() if v},
        "server_cpu_seconds": round(stats.server_cpu, 2), "client_cpu_seconds": round(stats.client_cpu, 2),
        "server_cpu_ms_per_request": round(stats.server_cpu * 1000 / stats.requests, 1) if stats.requests else 0.0,
        "connections": stats.connections, "stale_retries": stats.retries,
        "writes": {"new": writes["put-new"], "changed": writes["put-change"], "conflicts_412": stats.conflicts},
        "errors": {k: stats.errors[k] for k in ERROR_KINDS}, "error_examples": stats.examples,
        "consistent": not stats.inconsistent, "inconsistencies": stats.inconsistent[:20],
    }


def table(s: dict[str, Any], command: str) -> list[str]:
    server = (f"followups serve --workers {s['workers']} on {s['database']}" if s["target"] == "ours"
              else f"Radicale 3.9 on its filesystem storage (seeded through {s['database']})")
    lines = [f"## Load: {s['devices']} devices ({s['users']} users x {s['meetings']} meetings), {s['seconds']:g} s, "
             f"{server}", "", f"- command: `{command}`",
             f"- throughput: {s['requests']} requests in {s['seconds']:g} s = {s['throughput']:g} requests/s",
             f"- CPU in the window: the server's processes {s['server_cpu_seconds']:g} s "
             f"({s['server_cpu_ms_per_request']:g} ms per request; PostgreSQL's own not counted), "
             f"this client {s['client_cpu_seconds']:g} s",
             f"- connections opened in all: {s['connections']} (keep-alive connections the server had closed, "
             f"retried once: {s['stale_retries']})",
             f"- writes: {s['writes']['new']} new, {s['writes']['changed']} changed, "
             f"{s['writes']['conflicts_412']} If-Match conflicts (412, expected between devices of one user)", "",
             "| request | count | p50 ms | p99 ms | max ms |", "|---|---:|---:|---:|---:|"]
    for kind, label in KINDS.items():
        if k := s["kinds"].get(kind):
            lines.append(f"| {label} | {k['count']} | {k['p50_ms']:g} | {k['p99_ms']:g} | {k['max_ms']:g} |")
    total = sum(s["errors"].values())
    lines += ["", f"- errors: {total} (" + ", ".join(f"{k}: {v}" for k, v in s["errors"].items()) + ")"]
    lines += [f"  - {e}" for e in s["error_examples"]]
    lines.append("- consistency: " + ("every device's final state equals the server's listing, with the last "
                                      "acknowledged write of every href" if s["consistent"] else "FAILED"))
    lines += [f"  - {e}" for e in s["inconsistencies"]]
    return lines


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.load", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--devices", type=int, default=50, help="simulated devices, D (default 50)")
    p.add_argument("--users", type=int, default=None, help="users the devices belong to, U; device n is user "
                                                           "n mod U's (default: D/2, two devices per user)")
    p.add_argument("--meetings", type=int, default=100, help="meetings seeded per user, M (default 100)")
    p.add_argument("--seconds", type=float, default=60.0, help="length of the measured window, S (default 60)")
    p.add_argument("--interval", type=float, default=3.0,
                   help="mean seconds between a device's cycle starts, jittered +-50%% (default 3; 0: back to back)")
    p.add_argument("--write-every", type=int, default=10, help="one cycle in this many also PUTs (default 10)")
    p.add_argument("--target", choices=("ours", "radicale"), default="ours",
                   help="ours: followups serve; radicale: Radicale 3.9 with its filesystem storage on the same "
                        "texts (seeded through our store, then copied)")
    p.add_argument("--workers", type=int, default=2, help="followups serve --workers (default 2)")
    p.add_argument("--database", metavar="URL", help="SQLite or PostgreSQL URL (default: a temporary SQLite file)")
    p.add_argument("--fresh-schema", action=argparse.BooleanOptionalAction, default=True,
                   help="PostgreSQL: run in a new schema of that database, dropped afterwards (default); "
                        "--no-fresh-schema uses the URL as given, which must hold an empty store")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds a request may take before it counts as "
                                                              "a timeout (default 30)")
    p.add_argument("--seed", type=int, default=data.SEED, help="seed of the data and of the devices' jitter")
    p.add_argument("--json", action="store_true", help="print the results as one JSON object instead of a table")
    p.add_argument("--keep", metavar="DIR", help="work in DIR and keep it (SQLite file, server log, Radicale "
                                                 "folder) and the PostgreSQL schema")
    args = p.parse_args(argv)
    args.users = args.users or max(1, args.devices // 2)
    if min(args.devices, args.users, args.meetings, args.write_every, args.workers) < 1 or args.seconds <= 0:
        p.error("--devices, --users, --meetings, --write-every, --workers and --seconds must be positive")
    return args


def run(args: argparse.Namespace, workdir: Path, url: str, command: str) -> int:
    backend = "PostgreSQL" if url.startswith("postgres") else "SQLite"
    progress(f"seeding {args.users} users x {args.meetings} meetings on {backend}")
    logins = seed(url, args.users, args.meetings, args.seed)
    if args.target == "ours":
        server = start_ours(url, workdir, args.workers)
    else:
        server = start_radicale(url, workdir, logins)
    try:
        load = Load(args, server.port, server.process.pid)
        asyncio.run(load.run(logins))
    finally:
        server.stop()
    s = summary(args, load.stats, backend)
    print(json.dumps(s, indent=2) if args.json else "\n".join(table(s, command)), flush=True)
    return 1 if sum(s["errors"].values()) or not s["consistent"] else 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    command = shlex.join(["python", "-m", "benchmarks.load", *(sys.argv[1:] if argv is None else argv)])
    with tempfile.TemporaryDirectory(prefix="followups-load-") as tmp:
        workdir = Path(args.keep or tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        url = args.database or f"sqlite:///{workdir / 'load.db'}"
        if not url.startswith("postgres") or not args.fresh_schema:
            return run(args, workdir, url, command)
        with Schema(url, keep=bool(args.keep)) as schema:
            return run(args, workdir, schema.url, command)


if __name__ == "__main__":
    sys.exit(main())
