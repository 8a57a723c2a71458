"""The benchmark's results: timings, checks, and the markdown table."""

from __future__ import annotations

import os
import platform
import sqlite3
import statistics
from collections import defaultdict
from dataclasses import dataclass, field

from server.services.projection import MEETINGS, TASKS

OURS, RADICALE = "ours", "radicale"
BULK_TARGET = 1000.0


@dataclass(frozen=True)
class Row:
    key: str
    label: str
    target: float | None


ROWS = (
    Row("propfind", "PROPFIND depth 1 (getetag)", 5),
    Row("ctag", "getctag (PROPFIND depth 0)", 20),
    Row("initial", "initial sync (sync-collection + multiget by 100)", 5),
    Row("incremental", "incremental sync after one change", 50),
    Row("query", "one-week calendar-query (VEVENT / VTODO)", 10),
    Row("freebusy", "free/busy of a week (free-busy-query REPORT)", 10),
    Row("put", "PUT of a new object", 20),
    Row("put_changed", "PUT of a changed object (If-Match)", 10),
    Row("delete", "DELETE of an object (If-Match)", 10),
    Row("get", "GET of the collection", 8),
    Row("restart", "first request after a restart (Radicale without cache)", 20),
    Row("restart_cached", "first request after a restart (Radicale with its cache)", None),
)


@dataclass
class Results:
    times: dict[tuple[str, str, str], list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    rss: dict[str, float] = field(default_factory=dict)
    bulk_seconds: float = 0.0
    bulk_count: int = 0
    others_seconds: float = 0.0
    others_count: int = 0

    def add(self, row: str, coll: str, side: str, seconds: float) -> None:
        self.times[(row, coll, side)].append(seconds)

    def check(self, ok: bool, message: str) -> None:
        if not ok:
            self.errors.append(message)

    def median(self, row: str, coll: str, side: str) -> float | None:
        values = self.times.get((row, coll, side))
        return statistics.median(values) if values else None

    def runs(self, row: str, side: str) -> int:
        return max((len(self.times.get((row, c, side), [])) for c in (MEETINGS, TASKS)), default=0)

    @property
    def bulk_rate(self) -> float:
        return self.bulk_count / self.bulk_seconds if self.bulk_seconds else 0.0


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:,.1f}"


def _verdict(ratio: float | None, target: float | None) -> str:
    if target is None or ratio is None:
        return ""
    return "met" if ratio >= target else "MISSED"


def table(r: Results) -> list[str]:
    lines = ["| request | collection | ours (ms) | Radicale (ms) | Radicale / ours | target | met |",
             "|---|---|---:|---:|---:|---:|---|"]
    for row in ROWS:
        target = f">= {row.target:g}x" if row.target else ""
        for coll in (MEETINGS, TASKS):
            ours, theirs = r.median(row.key, coll, OURS), r.median(row.key, coll, RADICALE)
            if ours is None and theirs is None:
                continue
            ratio = theirs / ours if ours and theirs else None
            ratio_text = "-" if ratio is None else f"{ratio:,.1f}x"
            lines.append(f"| {row.label} | {coll} | {_ms(ours)} | {_ms(theirs)} | {ratio_text} | {target} | "
                         f"{_verdict(ratio, row.target)} |")
    lines.append(f"| peak RSS of the server process (VmHWM, MiB) | both | {r.rss.get(OURS, 0):,.1f} | "
                 f"{r.rss.get(RADICALE, 0):,.1f} | | | |")
    rate = r.bulk_rate
    lines.append(f"| CRM bulk load, follow-ups/s (create_many, rendering included) | both | {rate:,.0f}/s | "
                 f"(files written) | | >= {BULK_TARGET:,.0f}/s | {'met' if rate >= BULK_TARGET else 'MISSED'} |")
    return lines


def machine(database: str) -> list[str]:
    import radicale
    import sqlalchemy

    model = "unknown"
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        mem_kib = next(int(line.split()[1]) for line in open("/proc/meminfo", encoding="utf-8")
                       if line.startswith("MemTotal:"))
        ram = f"{mem_kib / 1024 / 1024:.1f} GiB"
    except (OSError, StopIteration):
        ram = "unknown"
    return [f"- machine: nproc {os.cpu_count()}, CPU {model}, RAM {ram}, {platform.system()} {platform.release()}",
            f"- software: Python {platform.python_version()}, Radicale {radicale.VERSION}, "
            f"SQLAlchemy {sqlalchemy.__version__}, our store on {database_version(database)}"]


def database_name(database: str) -> str:
    return "PostgreSQL" if database.startswith("postgresql") else "SQLite"


def database_version(database: str) -> str:
    """The store's engine and version as the server reports it, so two tables
    of one README say which database each ran on."""
    from sqlalchemy import text

    from store import db

    if database_name(database) == "SQLite":
        return f"SQLite {sqlite3.sqlite_version}"
    with db.get_engine(database).connect() as conn:
        version = str(conn.execute(text("SHOW server_version")).scalar())
    db.dispose_all()
    return f"PostgreSQL {version}"


def method_notes(r: Results, repeat: int) -> list[str]:
    return [
        f"- Times are medians of {repeat} repetitions, alternating which server goes first; each request is a "
        "fresh HTTP/1.0 connection (http.client), timed to the last byte of the body.",
        "- First request after a restart = PROPFIND depth 1 on the collection (meetings first, then tasks) right "
        "after the process listens. Ours: a fresh process on the existing database "
        f"({r.runs('restart', OURS)} runs). Radicale: a fresh process on its files with every .Radicale.cache "
        f"folder deleted, so it parses every item ({r.runs('restart', RADICALE)} runs); with its cache on disk: "
        f"{r.runs('restart_cached', RADICALE)} runs.",
        "- Incremental sync: one object changed by PUT on each server, then sync-collection from the token of the "
        "initial sync; it must return exactly that href.",
        "- PUT of a changed object and DELETE: each on an object no other step touches, with If-Match the ETag "
        "of an untimed GET; the PUT (a new SUMMARY) must answer 204 and a later GET show it, the DELETE 200 or "
        "204 and a later GET 404 (the object is then PUT back, untimed, so every repetition sees the same calendar).",
        "- Peak RSS is VmHWM of the process that served the repetitions, read before it stopped: Radicale's "
        "one process; ours, gunicorn's worker (the arbiter that forked it shares its pages).",
    ]
