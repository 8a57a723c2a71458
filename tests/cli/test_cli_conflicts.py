"""Conflicts through the CLI: warnings on ``add`` and ``update`` (exit code 0),
``conflicts`` for everyone, a user or a resource, ``show --json``'s list,
and a resource's ``--on-conflict`` policy."""

from __future__ import annotations

from typing import Any

import pytest

from tests.cli.clirun import Result, ok, run_batch, run_cli

SETUP = [
    ["user", "add", "anna", "--name", "Anna Berg", "--email", "anna@example.com", "--tz", "Europe/Oslo"],
    ["user", "add", "bjorn", "--name", "Bjørn Dahl", "--email", "bjorn@example.com", "--tz", "Europe/Oslo"],
    ["resource", "add", "room-fjord", "--name", "Fjord", "--email", "fjord@example.com"],
    ["resource", "add", "room-sky", "--name", "Sky", "--email", "sky@example.com", "--on-conflict", "decline",
     "--json"],
    # 1: anna's budget review in room-fjord, with bjorn
    ["add", "meeting", "--owner", "anna", "--title", "Budget review", "--start", "2026-12-01T10:00",
     "--participant", "bjorn", "--resource", "room-fjord"],
    # 2: bjorn's interview in room-fjord at the same time: clashes over bjorn and the room
    ["add", "meeting", "--owner", "bjorn", "--title", "Interview", "--start", "2026-12-01T10:30",
     "--resource", "room-fjord"],
    # 3: free time of anna's: no clash
    ["add", "meeting", "--owner", "anna", "--title", "Reading", "--start", "2026-12-01T10:00", "--free"],
    # 4: later that day: no clash
    ["add", "meeting", "--owner", "anna", "--title", "Lunch", "--start", "2026-12-01T12:00"],
]


@pytest.fixture(scope="module")
def store(module_url: str) -> tuple[str, list[Result]]:
    ok(module_url, "init")
    results = run_batch(module_url, [(args, "") for args in SETUP])
    assert [r.code for r in results] == [0] * len(SETUP), [r.err for r in results]
    return module_url, results


def _warnings(result: Result) -> list[str]:
    return result.err.splitlines()


def test_add_warns_once_per_clash_and_succeeds(store: tuple[str, list[Result]]) -> None:
    _, results = store
    assert results[3].json()["on_conflict"] == "decline"
    assert _warnings(results[4]) == []
    assert results[5].out.strip() == "2"
    assert _warnings(results[5]) == [
        'followups: warning: clashes with #1 "Budget review" (anna) for bjorn at 2026-12-01 10:30',
        'followups: warning: clashes with #1 "Budget review" (anna) on room-fjord at 2026-12-01 10:30',
    ]
    assert _warnings(results[6]) == [] and _warnings(results[7]) == []


def test_show_json_lists_the_conflicts(store: tuple[str, list[Result]]) -> None:
    url, _ = store
    shown = ok(url, "show", "1", "--json").json()
    assert [(c["id"], c["title"], c["owner"], c["user"], c["resource"]) for c in shown["conflicts"]] == [
        (2, "Interview", "bjorn", "bjorn", None), (2, "Interview", "bjorn", None, "room-fjord")]
    assert (shown["conflicts"][0]["start"], shown["conflicts"][0]["end"]) == \
        ("2026-12-01T10:30:00+01:00", "2026-12-01T11:00:00+01:00")
    assert ok(url, "show", "4", "--json").json()["conflicts"] == []
    assert 'conflict:' in ok(url, "show", "2").out


def test_conflicts_lists_each_clash_once(store: tuple[str, list[Result]]) -> None:
    url, _ = store
    window = ["--from", "2026-12-01", "--to", "2026-12-07"]
    everyone, anna, bjorn, room, none, text = run_batch(url, [
        (["conflicts", *window, "--json", "--tz", "Europe/Oslo"], ""),
        (["conflicts", "anna", *window, "--json"], ""),
        (["conflicts", "bjorn", *window, "--json"], ""),
        (["conflicts", "room-fjord", *window, "--json", "--tz", "Europe/Oslo"], ""),
        (["conflicts", "bjorn", "--from", "2026-12-02", "--json"], ""),
        (["conflicts", "bjorn", *window], ""),
    ])
    assert everyone.json() == [{
        "start": "2026-12-01T10:30:00+01:00", "end": "2026-12-01T11:00:00+01:00",
        "followups": [{"id": 1, "title": "Budget review", "owner": "anna"},
                      {"id": 2, "title": "Interview", "owner": "bjorn"}],
        "users": ["bjorn"], "resources": ["room-fjord"]}]
    assert anna.json() == []
    assert [(o["users"], o["resources"]) for o in bjorn.json()] == [(["bjorn"], [])]
    assert [(o["users"], o["resources"]) for o in room.json()] == [([], ["room-fjord"])]
    assert none.json() == []
    assert "#1 Budget review (anna)" in text.out and "#2 Interview (bjorn)" in text.out


def test_conflicts_of_an_unknown_login_is_an_error(store: tuple[str, list[Result]]) -> None:
    url, _ = store
    [unknown, backwards] = run_batch(url, [(["conflicts", "nobody"], ""),
                                           (["conflicts", "--from", "2026-12-02", "--to", "2026-12-01"], "")])
    assert unknown.code == 2 and "no user or resource 'nobody'" in unknown.error_line()
    assert backwards.code == 2 and "before" in backwards.error_line()


def test_update_warns_and_a_declining_room_refuses_the_later_booking(store: tuple[str, list[Result]]) -> None:
    url, _ = store
    results = run_batch(url, [(args, "") for args in [
        ["add", "meeting", "--owner", "anna", "--title", "Board", "--start", "2026-12-08T09:00",
         "--resource", "room-sky"],
        ["add", "meeting", "--owner", "bjorn", "--title", "Demo", "--start", "2026-12-08T09:30",
         "--resource", "room-sky", "--json"],
        ["update", "4", "--start", "2026-12-08T09:15", "--resource", "room-fjord"],
        ["update", "6", "--start", "2026-12-08T14:00", "--json"],
        ["resource", "update", "room-sky", "--on-conflict", "allow", "--json"],
        ["resource", "list", "--json"],
    ]])
    assert [r.code for r in results] == [0] * len(results), [r.err for r in results]
    board, demo, moved, away, allow, listing = results
    assert _warnings(board) == []
    assert [r["login"] for r in demo.json()["resources"]] == ["room-sky"]
    assert demo.json()["conflicts"] == []  # the room declined it, so it blocks nothing
    assert _warnings(demo) == [
        'followups: warning: room-sky declined the booking: it clashes with #5 "Board" (anna) at 2026-12-08 09:30']
    assert _warnings(moved) == ['followups: warning: clashes with #5 "Board" (anna) for anna at 2026-12-08 09:15']
    assert away.json()["conflicts"] == [] and _warnings(away) == []
    assert allow.json()["on_conflict"] == "allow"
    assert {r["login"]: r["on_conflict"] for r in listing.json()} == {"room-fjord": "allow", "room-sky": "allow"}


def test_resource_update(store: tuple[str, list[Result]]) -> None:
    url, _ = store
    nothing, renamed, bad = run_batch(url, [
        (["resource", "update", "room-fjord"], ""),
        (["resource", "update", "room-fjord", "--name", "Fjord (big)", "--on-conflict", "decline", "--json"], ""),
        (["resource", "update", "room-fjord", "--on-conflict", "maybe"], ""),
    ])
    assert nothing.code == 2 and "nothing to change" in nothing.error_line()
    assert (renamed.json()["name"], renamed.json()["on_conflict"]) == ("Fjord (big)", "decline")
    assert bad.code == 2
    # the new policy applied at once: of the budget review (1) and the interview (2), the later is declined
    assert ok(url, "show", "1", "--json").json()["conflicts"] == [
        {"id": 2, "title": "Interview", "owner": "bjorn", "user": "bjorn", "resource": None,
         "start": "2026-12-01T10:30:00+01:00", "end": "2026-12-01T11:00:00+01:00"}]
    ok(url, "resource", "update", "room-fjord", "--on-conflict", "allow")


def test_conflicts_at_the_ends_of_the_calendar_is_one_line(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path}/ends.db"
    ok(url, "init")
    ok(url, "user", "add", "ann", "--name", "Ann", "--email", "ann@example.com")
    for first, last in (("9999-12-01", "9999-12-31"), ("0001-01-01", "0001-01-31")):
        result = run_cli(url, "conflicts", "ann", "--from", first, "--to", last)
        assert result.code == 2
        assert "outside the days" in result.error_line()
