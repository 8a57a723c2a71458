"""What every ``followups`` command shares: the argument parser that fails in
one line, output as aligned tables or JSON, time parsing, record lookup by
name or id, and a progress bar for long operations."""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import IO, Any, NoReturn
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import SQLAlchemyError

from server.config import ConfigFile, Settings
from store.domain import Moment
from store.errors import InvalidFollowup, NotFound, StoreError
from store.localtime import local_time, zone

PROG = "followups"


class UsageError(InvalidFollowup):
    """Bad command-line input found after parsing (exit code 2)."""


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr and exit code 2."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{PROG}: error: {message} (see `{self.prog} --help`)\n")
        sys.exit(2)


@dataclass
class Context:
    """What a command handler gets: its arguments, the store's URL and the settings
    (flags, environment, config file and defaults, in that order of precedence)."""

    args: argparse.Namespace
    url: str
    settings: Settings
    config_file: ConfigFile
    _engine: Engine | None = None

    @property
    def json(self) -> bool:
        return bool(getattr(self.args, "json", False))

    def engine(self) -> Engine:
        """The engine of an initialised store; refuses a store that `init` never set up."""
        if self._engine is None:
            from store import db

            engine = db.get_engine(self.url)
            try:
                with engine.connect() as conn:
                    current = None
                    if inspect(conn).has_table("alembic_version"):
                        current = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
            except SQLAlchemyError as exc:  # the driver's own errors: unreachable server, bad file
                first = str(getattr(exc, "orig", None) or exc).strip().splitlines()
                raise StoreError(f"cannot open the store at {self.url}: {first[0] if first else exc}") from exc
            if current is None:
                raise StoreError(f"the store is not initialised: run `followups --database {self.url} init` first")
            if current != head_revision(db.MIGRATIONS):
                raise StoreError(f"the store's schema ({current}) is not the newest: "
                                 f"run `followups --database {self.url} init` to upgrade it")
            self._engine = engine
        return self._engine


def head_revision(migrations: Path) -> str | None:
    """The newest migration's revision, read from the migration scripts' ``revision`` and
    ``down_revision`` lines: what ``alembic heads`` says, without importing Alembic (a
    fifth of every command's start-up time)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in (migrations / "versions").glob("*.py"):
        body = script.read_text(encoding="utf-8")
        found = _REVISION.search(body)
        if found:
            revisions.add(found.group(1))
        parents.update(_QUOTED.findall(" ".join(_DOWN.findall(body))))
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


_REVISION = re.compile(r"^revision\b[^=\n]*=\s*['\"]([^'\"]+)['\"]", re.M)
_DOWN = re.compile(r"^down_revision\b[^=\n]*=(.*)$", re.M)
_QUOTED = re.compile(r"['\"]([^'\"]+)['\"]")


# -- output ------------------------------------------------------------------------------


def emit_json(data: Any, out: IO[str] | None = None) -> None:
    json.dump(data, out or sys.stdout, indent=2, ensure_ascii=False, sort_keys=False)
    (out or sys.stdout).write("\n")


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str], out: IO[str] | None = None) -> None:
    """Print ``rows`` as left-aligned columns under ``headers``."""
    out = out or sys.stdout
    if not rows:
        out.write("(none)\n")
        return
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    lines = [headers, ["-" * w for w in widths], *cells]
    for line in lines:
        out.write("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() + "\n")


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value).replace("\n", " ")


def pairs(items: Sequence[tuple[str, Any]], out: IO[str] | None = None) -> None:
    """Print ``label: value`` lines with the labels aligned (one record's details)."""
    out = out or sys.stdout
    width = max(len(k) for k, _ in items)
    for key, value in items:
        out.write(f"{key + ':':<{width + 1}} {_cell(value)}\n")


def short(moment: Moment | None, tz: ZoneInfo | None = None) -> str:
    """A compact human time: dates as-is, times to the minute, in ``tz`` when given."""
    if moment is None:
        return "-"
    if not isinstance(moment, datetime):
        return moment.isoformat()
    if tz is not None and moment.tzinfo is not None:
        moment = moment.astimezone(tz)
    text = moment.strftime("%Y-%m-%d %H:%M")
    if moment.tzinfo is not None and tz is None:
        key = getattr(moment.tzinfo, "key", None)
        text += f" {key}" if key else moment.strftime(" %z")
    return text


class Progress:
    """A one-line ``\\r`` progress bar on stderr, drawn only when stderr is a terminal."""

    def __init__(self, label: str, stream: IO[str] | None = None, width: int = 30) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.width = width
        self.active = self.stream.isatty()
        self.drawn = False

    def __call__(self, done: int, total: int) -> None:
        if not self.active or total <= 0:
            return
        filled = int(self.width * min(done, total) / total)
        bar = "#" * filled + "." * (self.width - filled)
        self.stream.write(f"\r{self.label} [{bar}] {done}/{total}")
        self.stream.flush()
        self.drawn = True

    def finish(self) -> None:
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()
            self.drawn = False


# -- input -------------------------------------------------------------------------------


def read_moment(text: str, what: str = "time") -> date | datetime:
    """An ISO date, or a date and time as written (naive without an offset): no zone applied yet."""
    value = text.strip()
    try:
        if len(value) == 10:
            return date.fromisoformat(value)
        moment = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        raise UsageError(f"{what} {text!r} is not an ISO date (2025-03-14) or date and time "
                         "(2025-03-14T09:30, optionally with an offset such as +01:00)") from None
    return moment.replace(microsecond=0)


def parse_moment(text: str, tz: ZoneInfo, what: str = "time", as_written: bool = False) -> Moment:
    """An ISO date (all day) or datetime; a datetime without offset is in ``tz``.

    Accepts ``YYYY-MM-DD``, ``YYYY-MM-DDTHH:MM[:SS]`` (also with a space) and an
    offset or ``Z``; an offset is converted into ``tz`` so the follow-up keeps a
    named zone (which survives daylight-saving changes in recurring series).

    A local time the zone skips (clocks go forward) becomes the first valid time
    after the gap, and one it has twice (clocks go back) the first of the two; either
    is said in one warning line on stderr (:func:`store.localtime.local_time`).
    ``as_written`` keeps the wall time as given, without a warning, for times that
    name an occurrence of a series (an EXDATE matches the instance RFC 5545 §3.3.5
    reads at that wall time).
    """
    moment = read_moment(text, what)
    if not isinstance(moment, datetime):
        return moment
    if moment.tzinfo is not None:
        return moment.astimezone(tz)
    if as_written:
        return moment.replace(tzinfo=tz)
    placed = local_time(moment, tz)
    note = placed.note(moment)
    if note:
        warn(note)
    return placed.moment


def warn(message: str) -> None:
    """One warning line on stderr; the command goes on (exit code 0)."""
    sys.stderr.write(f"{PROG}: warning: {message}\n")


def parse_datetime(text: str, tz: ZoneInfo, what: str = "time") -> datetime:
    moment = parse_moment(text, tz, what)
    if not isinstance(moment, datetime):
        raise UsageError(f"{what} {text!r} needs a time of day as well (e.g. {text}T09:30)")
    return moment


def parse_day(text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f"{text!r} is not a date: use YYYY-MM-DD") from None


def parse_week(text: str) -> date:
    """The Monday of ISO week ``YYYY-Www``."""
    try:
        year, week = text.strip().upper().split("-W")
        return date.fromisocalendar(int(year), int(week), 1)
    except ValueError:
        raise UsageError(f"{text!r} is not an ISO week: use YYYY-Www, e.g. 2025-W07") from None


def parse_month(text: str) -> date:
    try:
        year, month = text.strip().split("-")
        return date(int(year), int(month), 1)
    except ValueError:
        raise UsageError(f"{text!r} is not a month: use YYYY-MM, e.g. 2025-02") from None


def month_end(first: date) -> date:
    return (first.replace(day=28) + timedelta(days=4)).replace(day=1)


def tz_option(value: str) -> ZoneInfo:
    try:
        return zone(value)
    except InvalidFollowup as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number <= 0:
        raise argparse.ArgumentTypeError(f"{value} is not a positive number")
    return number


def non_negative_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative")
    return number


def priority_option(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = -1
    if not 1 <= number <= 9:
        raise argparse.ArgumentTypeError(f"priority is 1 (high) to 9 (low), not {value!r}")
    return number


def record_id(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an id (a whole number)") from None
    if number <= 0:
        raise argparse.ArgumentTypeError(f"{value!r} is not an id (a positive whole number)")
    return number


def lookup(find: Callable[[Any], Any], text: Any, label: str, command: str) -> Any:
    """``find(text)``, with a NotFound that says where to look."""
    try:
        return find(text)
    except NotFound as exc:
        message = str(exc)
        if "followups" not in message:
            message += f" (see `followups {command} list`)"
        raise NotFound(message) from None


def add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                        help="print JSON for scripts instead of a table")
