"""Daylight-saving days from the command line: never silent, and lengths in real time.

Regression: ``followups add meeting --owner anna --start 2026-03-29T02:30`` (a time Oslo's
clocks skip) stored a meeting of zero real length while ``show --json`` said 60 minutes,
and ``--duration`` across the change came out 30 real minutes short.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest

from tests.cli.clirun import Result, ok, run_batch


@dataclass(frozen=True)
class Zone:
    name: str
    gap: str
    """A local time the zone skips (clocks go forward)."""
    after_gap: str
    """The first valid time after that gap, as ``show --json`` prints it."""
    before_gap: str
    """A time 60 minutes before the clocks go forward."""
    fold: str
    """A local time the zone has twice (clocks go back)."""
    first_fold: str
    """Its first occurrence, as ``show --json`` prints it."""
    before_fold: str
    """A time 90 minutes before the clocks go back."""


ZONES = [
    Zone("Europe/Oslo", "2026-03-29T02:30", "2026-03-29T03:00:00+02:00", "2026-03-29T01:00",
         "2026-10-25T02:30", "2026-10-25T02:30:00+02:00", "2026-10-25T01:30"),
    Zone("America/New_York", "2026-03-08T02:30", "2026-03-08T03:00:00-04:00", "2026-03-08T01:00",
         "2026-11-01T01:30", "2026-11-01T01:30:00-04:00", "2026-11-01T00:30"),
]


def _gap_warning(z: Zone) -> str:
    day, clock = z.gap.split("T")
    return f"followups: warning: {day} {clock} does not exist in {z.name} (clocks go forward); using 03:00"


def _fold_warning_start(z: Zone) -> str:
    day, clock = z.fold.split("T")
    return f"followups: warning: {day} {clock} happens twice in {z.name} (clocks go back); using the first"


def _real_minutes(data: dict[str, str]) -> int:
    start, end = datetime.fromisoformat(data["start"]), datetime.fromisoformat(data["end"])
    return int((end - start).total_seconds() // 60)  # fixed offsets: real time


def _one_warning(result: Result) -> str:
    assert result.code == 0, result.err
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    return lines[0]


@pytest.mark.parametrize("z", ZONES, ids=[z.name for z in ZONES])
def test_meetings_todos_and_calls_on_daylight_saving_days(db_url: str, z: Zone) -> None:
    ok(db_url, "init")
    owner = ["--owner", "anna", "--free"]
    meeting = ["add", "meeting", *owner, "--json"]
    results = run_batch(db_url, [
        (["user", "add", "anna", "--name", "Anna", "--email", "anna@example.com", "--tz", z.name], ""),
        ([*meeting, "--title", "In the gap", "--start", z.gap], ""),                                  # 1
        ([*meeting, "--title", "Across the gap", "--start", z.before_gap, "--duration", "90"], ""),  # 2
        ([*meeting, "--title", "In the fold", "--start", z.fold], ""),                               # 3
        ([*meeting, "--title", "Across the fold", "--start", z.before_fold, "--duration", "90"], ""),  # 4
        (["add", "todo", "--owner", "anna", "--title", "Due in the gap", "--deadline", z.gap, "--json"], ""),  # 5
        (["add", "todo", "--owner", "anna", "--title", "Due in the fold", "--deadline", z.fold, "--json"], ""),
        (["add", "call", *owner, "--title", "Planned", "--deadline", z.gap, "--json"], ""),           # 7
        (["add", "call", *owner, "--title", "Made in the gap", "--deadline", z.gap, "--start", z.gap,
          "--duration", "20", "--json"], ""),                                                           # 8
        (["add", "call", *owner, "--title", "To make", "--deadline", z.fold, "--json"], ""),            # 9
        (["call-made", "9", "--at", z.fold, "--duration", "75", "--json"], ""),                        # 10
        ([*meeting, "--title", "Moved into the gap", "--start", "2026-06-01T10:00", "--duration", "45"], ""),
        (["update", "10", "--start", z.gap, "--json"], ""),                                            # 12
        (["update", "10", "--end", z.fold, "--json"], ""),                                             # 13
        ([*meeting, "--title", "Ordinary", "--start", z.before_gap, "--json"], ""),                   # 14
    ])

    in_gap = results[1].json()
    assert _one_warning(results[1]) == _gap_warning(z)
    assert in_gap["start"] == z.after_gap
    assert in_gap["duration_minutes"] == _real_minutes(in_gap) == 60

    across = results[2].json()
    assert results[2].err == ""
    assert across["duration_minutes"] == _real_minutes(across) == 90

    in_fold = results[3].json()
    assert _one_warning(results[3]).startswith(_fold_warning_start(z))
    assert in_fold["start"] == z.first_fold
    assert in_fold["duration_minutes"] == _real_minutes(in_fold) == 60

    across_fold = results[4].json()
    assert results[4].err == ""
    assert across_fold["duration_minutes"] == _real_minutes(across_fold) == 90
    assert datetime.fromisoformat(across_fold["end"]).utcoffset() != \
        datetime.fromisoformat(across_fold["start"]).utcoffset(), "ends after the clocks went back"

    assert _one_warning(results[5]) == _gap_warning(z)
    assert results[5].json()["deadline"] == z.after_gap
    assert _one_warning(results[6]).startswith(_fold_warning_start(z))
    assert results[6].json()["deadline"] == z.first_fold

    assert _one_warning(results[7]) == _gap_warning(z)
    assert results[7].json()["deadline"] == z.after_gap
    made = results[8].json()
    assert results[8].err.strip().splitlines() == [_gap_warning(z)] * 2  # --deadline and --start
    assert made["start"] == z.after_gap and made["duration_minutes"] == _real_minutes(made) == 20

    assert _one_warning(results[10]).startswith(_fold_warning_start(z))
    made_late = results[10].json()
    assert made_late["start"] == z.first_fold
    assert made_late["duration_minutes"] == _real_minutes(made_late) == 75

    moved = results[12].json()
    assert _one_warning(results[12]) == _gap_warning(z)
    assert moved["start"] == z.after_gap
    assert moved["duration_minutes"] == _real_minutes(moved) == 45, "keeps its length in real time"
    assert _one_warning(results[13]).startswith(_fold_warning_start(z))
    assert results[13].json()["end"] == z.first_fold

    assert results[14].err == "" and results[14].json()["duration_minutes"] == 60


def test_the_warning_is_one_line_and_the_exit_code_0(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'f.db'}"
    ok(url, "init")
    ok(url, "user", "add", "anna", "--name", "Anna", "--email", "anna@example.com", "--tz", "Europe/Oslo")
    result = ok(url, "add", "meeting", "--owner", "anna", "--title", "Early", "--start", "2026-03-29T02:30")
    assert result.err == ("followups: warning: 2026-03-29 02:30 does not exist in Europe/Oslo "
                          "(clocks go forward); using 03:00\n")
    shown = ok(url, "show", result.out.strip(), "--json").json()
    assert (shown["start"], shown["end"], shown["duration_minutes"]) == (
        "2026-03-29T03:00:00+02:00", "2026-03-29T04:00:00+02:00", 60)
    explicit = ok(url, "add", "meeting", "--owner", "anna", "--title", "Offset", "--start",
                  "2026-03-29T02:30+01:00", "--free")
    assert explicit.err == "", "a time with an offset is an instant: nothing to warn about"
    assert ok(url, "show", explicit.out.strip(), "--json").json()["start"] == "2026-03-29T03:30:00+02:00"
