"""One occurrence of a series at a time: ``update|cancel|delete ID --occurrence DATE``."""

from __future__ import annotations

from typing import Any

from tests.cli.clirun import Result, ok, run_batch

SETUP = [
    (["user", "add", "anna", "--name", "Anna", "--email", "anna@example.com", "--tz", "Europe/Oslo"], ""),
    (["user", "add", "bjorn", "--name", "Bjorn", "--email", "bjorn@example.com", "--tz", "Europe/Oslo"], ""),
    (["add", "meeting", "--owner", "anna", "--title", "Weekly", "--start", "2026-12-01T10:00",
      "--rrule", "FREQ=WEEKLY;COUNT=5", "--participant", "bjorn"], ""),                      # 1
    (["add", "meeting", "--owner", "anna", "--title", "Once", "--start", "2026-12-02T12:00", "--free"], ""),  # 2
    (["add", "meeting", "--owner", "bjorn", "--title", "Standups", "--start", "2026-12-01T09:00",
      "--duration", "15", "--rrule", "FREQ=DAILY;BYHOUR=9,13;COUNT=6"], ""),                  # 3
    (["add", "todo", "--owner", "anna", "--title", "Report", "--deadline", "2026-12-04T16:00",
      "--rrule", "FREQ=WEEKLY;COUNT=3"], ""),                                                 # 4
]


def _setup(url: str, *commands: tuple[list[str], str]) -> list[Result]:
    ok(url, "init")
    results = run_batch(url, [*SETUP, *commands])
    assert [r.code for r in results[:len(SETUP)]] == [0] * len(SETUP), [r.err for r in results]
    return results[len(SETUP):]


def _diary(result: Result) -> list[tuple[Any, ...]]:
    return [(e["id"], e["start"], e["end"], e["title"], e["location"]) for e in result.json()]


def test_moving_one_occurrence_leaves_the_others_and_asks_the_participants_again(db_url: str) -> None:
    results = _setup(
        db_url,
        (["update", "1", "--occurrence", "2026-12-08", "--start", "2026-12-09T14:00", "--title", "Moved",
          "--json"], ""),                                                                          # 0
        (["update", "1", "--occurrence", "2026-12-08", "--duration", "30", "--location", "Loft",
          "--json"], ""),                                                                          # 1
        (["update", "1", "--occurrence", "2026-12-15", "--agenda", "Only the agenda", "--json"], ""),  # 2
        (["diary", "anna", "--month", "2026-12", "--json"], ""),                                  # 3
    )
    moved = results[0].json()
    assert results[0].err == ""
    assert moved["start"] == "2026-12-01T10:00:00+01:00" and moved["recurrence"]["exdates"] == []
    assert moved["overrides"] == [{
        "recurrence_id": "2026-12-08T10:00:00+01:00", "start": "2026-12-09T14:00:00+01:00",
        "end": "2026-12-09T15:00:00+01:00", "title": "Moved", "agenda": None, "location": None,
        "cancelled": False}]
    assert moved["sequence"] == 1 and [p["partstat"] for p in moved["participants"]] == ["NEEDS-ACTION"]

    again = results[1].json()
    assert len(again["overrides"]) == 1, "the same occurrence's override is updated, not another added"
    assert (again["overrides"][0]["start"], again["overrides"][0]["end"], again["overrides"][0]["location"]) == (
        "2026-12-09T14:00:00+01:00", "2026-12-09T14:30:00+01:00", "Loft")
    assert again["sequence"] == 2
    assert results[2].json()["sequence"] == 2, "a new agenda is not a move: nobody is asked again"

    assert _diary(results[3]) == [
        (1, "2026-12-01T10:00:00+01:00", "2026-12-01T11:00:00+01:00", "Weekly", ""),
        (2, "2026-12-02T12:00:00+01:00", "2026-12-02T13:00:00+01:00", "Once", ""),
        (1, "2026-12-09T14:00:00+01:00", "2026-12-09T14:30:00+01:00", "Moved", "Loft"),
        (1, "2026-12-15T10:00:00+01:00", "2026-12-15T11:00:00+01:00", "Weekly", ""),
        (1, "2026-12-22T10:00:00+01:00", "2026-12-22T11:00:00+01:00", "Weekly", ""),
        (1, "2026-12-29T10:00:00+01:00", "2026-12-29T11:00:00+01:00", "Weekly", ""),
    ]


def test_cancel_and_delete_one_occurrence(db_url: str) -> None:
    results = _setup(
        db_url,
        (["cancel", "1", "--occurrence", "2026-12-15", "--json"], ""),     # 0
        (["delete", "1", "--occurrence", "2026-12-22", "--json"], ""),     # 1
        (["delete", "4", "--occurrence", "2026-12-11"], ""),               # 2
        (["diary", "anna", "--month", "2026-12", "--json"], ""),           # 3
        (["todo", "anna", "--json"], ""),                                  # 4
        (["cancel", "4", "--occurrence", "2026-12-18"], ""),               # 5
        (["delete", "1", "--occurrence", "2026-12-22"], ""),               # 6
    )
    cancelled = results[0].json()
    assert cancelled["status"] == "open", "the meeting itself is not cancelled"
    assert [(o["recurrence_id"], o["cancelled"]) for o in cancelled["overrides"]] == [
        ("2026-12-15T10:00:00+01:00", True)]
    assert cancelled["sequence"] == 0
    deleted = results[1].json()
    assert deleted["recurrence"]["exdates"] == ["2026-12-22T10:00:00+01:00"]
    assert deleted["sequence"] == 1, "the recurrence changed"
    assert [p["partstat"] for p in deleted["participants"]] == ["NEEDS-ACTION"]
    assert results[2].out.strip() == "follow-up 4 no longer happens on 2026-12-11 16:00 Europe/Oslo " \
                                     "(the other occurrences stay)"
    assert [e[1] for e in _diary(results[3]) if e[0] == 1] == [
        "2026-12-01T10:00:00+01:00", "2026-12-08T10:00:00+01:00", "2026-12-29T10:00:00+01:00"]
    assert results[5].error_line() == ("followups: error: follow-up 4 is a todo; only meetings are cancelled "
                                       "(delete the occurrence instead)")
    assert results[5].code == 2
    assert results[6].code == 2 and "no occurrence on 2026-12-22" in results[6].error_line()


def test_bad_occurrences_are_one_clear_line_and_exit_2(db_url: str) -> None:
    results = _setup(
        db_url,
        (["update", "1", "--occurrence", "2026-12-10", "--title", "x"], ""),
        (["update", "1", "--occurrence", "2027-03-01", "--title", "x"], ""),
        (["update", "1", "--occurrence", "2026-12-08T11:00", "--title", "x"], ""),
        (["update", "2", "--occurrence", "2026-12-02", "--title", "x"], ""),
        (["cancel", "2", "--occurrence", "2026-12-02"], ""),
        (["update", "3", "--occurrence", "2026-12-02", "--title", "x"], ""),
        (["update", "1", "--occurrence", "2026-12-08", "--participant", "anna", "--rrule", "FREQ=DAILY"], ""),
        (["update", "1", "--occurrence", "2026-12-08"], ""),
        (["update", "1", "--occurrence", "next week", "--title", "x"], ""),
        (["update", "1", "--occurrence", "2026-12-08", "--start", "2026-12-09"], ""),
        (["show", "1", "--json"], ""),
    )
    lines = [r.error_line() for r in results[:-1]]
    assert all(r.code == 2 for r in results[:-1]), [r.err for r in results]
    assert lines[:6] == [
        "followups: error: follow-up 1 has no occurrence on 2026-12-10 (Europe/Oslo); "
        "the nearest are 2026-12-08 10:00 and 2026-12-15 10:00",
        "followups: error: follow-up 1 has no occurrence on 2027-03-01 (Europe/Oslo); "
        "the nearest is 2026-12-29 10:00",
        "followups: error: follow-up 1 has no occurrence at 2026-12-08 11:00 (Europe/Oslo); "
        "on 2026-12-08 it has 10:00",
        "followups: error: follow-up 2 does not repeat: change, cancel or delete it as a whole",
        "followups: error: follow-up 2 does not repeat: change, cancel or delete it as a whole",
        "followups: error: follow-up 3 has 2 occurrences on 2026-12-02 (Europe/Oslo): give the time as well "
        "(2026-12-02T09:00 or 2026-12-02T13:00)",
    ]
    assert lines[6] == ("followups: error: --rrule, --participant change the whole series, not one occurrence: "
                        "give them without --occurrence")
    assert "needs something to change" in lines[7]
    assert "--occurrence 'next week' is not an ISO date" in lines[8]
    assert "all-day" in lines[9]
    assert results[-1].json()["overrides"] == [] and results[-1].json()["sequence"] == 0


def test_an_occurrence_named_by_its_time_when_the_series_has_several_a_day(db_url: str) -> None:
    results = _setup(
        db_url,
        (["update", "3", "--occurrence", "2026-12-02T13:00", "--start", "2026-12-02T13:30", "--json"], ""),
        (["update", "3", "--occurrence", "2026-12-02T13:00+01:00", "--title", "Late", "--json"], ""),
        (["diary", "bjorn", "--day", "2026-12-02", "--json"], ""),
    )
    assert [(o["recurrence_id"], o["start"], o["end"]) for o in results[0].json()["overrides"]] == [
        ("2026-12-02T13:00:00+01:00", "2026-12-02T13:30:00+01:00", "2026-12-02T13:45:00+01:00")]
    assert [o["title"] for o in results[1].json()["overrides"]] == ["Late"]
    assert _diary(results[2]) == [
        (3, "2026-12-02T09:00:00+01:00", "2026-12-02T09:15:00+01:00", "Standups", ""),
        (3, "2026-12-02T13:30:00+01:00", "2026-12-02T13:45:00+01:00", "Late", ""),
    ]


def test_a_moved_occurrence_is_also_found_on_its_new_day(db_url: str) -> None:
    results = _setup(
        db_url,
        (["update", "1", "--occurrence", "2026-12-08", "--start", "2026-12-10T08:00"], ""),
        (["update", "1", "--occurrence", "2026-12-10", "--title", "Thursday", "--json"], ""),
    )
    assert results[1].code == 0, results[1].err
    [override] = results[1].json()["overrides"]
    assert (override["recurrence_id"], override["title"]) == ("2026-12-08T10:00:00+01:00", "Thursday")


def test_an_occurrence_at_a_skipped_wall_time_is_named_as_written(db_url: str) -> None:
    """A weekly 02:30 series has an instance on the night clocks go forward (RFC 5545 §3.3.5 reads
    it at 03:30); ``--occurrence`` names it as the series writes it, and a new start in the gap
    moves to the first valid time, with the warning."""
    results = _setup(
        db_url,
        (["add", "meeting", "--owner", "anna", "--title", "Night shift", "--start", "2026-03-22T02:30",
          "--rrule", "FREQ=WEEKLY;COUNT=3", "--free"], ""),                                        # 0: id 5
        (["update", "5", "--occurrence", "2026-03-29T02:30", "--start", "2026-03-29T02:45", "--json"], ""),
        (["update", "4", "--occurrence", "2026-12-11", "--title", "x"], ""),
    )
    assert results[1].err == ("followups: warning: 2026-03-29 02:45 does not exist in Europe/Oslo "
                              "(clocks go forward); using 03:00\n")
    [override] = results[1].json()["overrides"]
    assert (override["recurrence_id"], override["start"], override["end"]) == (
        "2026-03-29T02:30:00+01:00", "2026-03-29T03:00:00+02:00", "2026-03-29T04:00:00+02:00")
    assert results[2].error_line() == ("followups: error: follow-up 4 is not in the diary (it has no start): "
                                       "its occurrences are changed with the series")
