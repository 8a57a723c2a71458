"""``followups diary --overview``: several demo users' diaries side by side, as one viewer may
see them; and the diary's small defects (each test named after what broke)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.cli.clirun import Result, ok, run_batch

OSLO = ZoneInfo("Europe/Oslo")
TEAM = ("anna", "bjorn", "carla")  # Oslo, Oslo and Rome: the same days and offsets
SECRET = "Takeover talks"


def _week() -> tuple[str, datetime]:
    """This ISO week as anna (Oslo) sees it, and its Wednesday 10:00."""
    now = datetime.now(OSLO)
    year, week, _ = now.isocalendar()
    monday = now.date() - timedelta(days=now.weekday())
    return f"{year}-W{week:02d}", datetime.combine(monday + timedelta(days=2), datetime.min.time(), OSLO).replace(
        hour=10)


@pytest.fixture(scope="module")
def store(module_url: str) -> dict[str, Any]:
    """Demo data, plus bjorn's private meeting with carla this Wednesday, and a meeting of
    anna's in a room with no location of its own."""
    ok(module_url, "demo", "--json")
    week, wednesday = _week()
    secret = ok(module_url, "add", "meeting", "--owner", "bjorn", "--title", SECRET, "--private",
                "--participant", "carla", "--location", "Bjorn's office", "--agenda", "Do not tell anna",
                "--company", "1", "--notes", "board only", "--start", wednesday.isoformat(timespec="minutes"),
                "--duration", "45", "--json").json()
    room = ok(module_url, "add", "meeting", "--owner", "anna", "--title", "Room without location",
              "--resource", "room-glacier", "--start", (wednesday + timedelta(hours=4)).isoformat(timespec="minutes"),
              "--json").json()
    return {"week": week, "wednesday": wednesday, "secret": secret["id"], "room": room["id"]}


@pytest.fixture(scope="module")
def runs(module_url: str, store: dict[str, Any]) -> dict[str, Result]:
    week = store["week"]
    names: dict[str, list[str]] = {
        "json": ["diary", "--overview", ",".join(TEAM), "--week", week, "--json"],
        "text": ["diary", "--overview", ",".join(TEAM), "--week", week],
        "as bjorn": ["diary", "--overview", ",".join(TEAM), "--week", week, "--as", "bjorn", "--json"],
        "as carla text": ["diary", "--overview", ",".join(TEAM), "--week", week, "--as", "carla"],
        "day": ["diary", "--overview", "carla,anna", "--day", store["wednesday"].date().isoformat(), "--json"],
        **{f"diary {login}": ["diary", login, "--week", week, "--json"] for login in TEAM},
        "anna diary text": ["diary", "anna", "--week", week],
        "todo": ["todo", "anna"],
    }
    results = run_batch(module_url, [(args, "") for args in names.values()])
    for name, result in zip(names, results, strict=True):
        assert result.code == 0, f"{name}: {result.err}"
    return dict(zip(names, results, strict=True))


def _column(overview: dict[str, Any], login: str) -> list[dict[str, Any]]:
    return next(u["entries"] for u in overview["users"] if u["login"] == login)


def test_overview_lists_each_users_diary_for_the_week(runs: dict[str, Result], store: dict[str, Any]) -> None:
    overview = runs["json"].json()
    monday = datetime.strptime(store["week"] + "-1", "%G-W%V-%u").date()
    assert (overview["view"], overview["viewer"], overview["tz"]) == ("week", "anna", "Europe/Oslo")
    assert (overview["from"], overview["to"]) == (monday.isoformat(), (monday + timedelta(days=6)).isoformat())
    assert [(u["login"], u["name"]) for u in overview["users"]] == [
        ("anna", "Anna Berg"), ("bjorn", "Bjørn Dahl"), ("carla", "Carla Rossi")]
    kinds = set()
    for login in TEAM:
        diary = runs[f"diary {login}"].json()
        column = _column(overview, login)
        assert [(e["start"], e["end"]) for e in column] == [(e["start"], e["end"]) for e in diary], login
        for entry, own in zip(column, diary, strict=True):
            if not entry["masked"]:
                assert (entry["id"], entry["kind"], entry["title"]) == (own["id"], own["kind"], own["title"])
                kinds.add(entry["kind"])
    assert kinds >= {"meeting", "call"}
    assert any(e["recurring"] for e in _column(overview, "bjorn")), "the weekly series, expanded"


def test_overview_masks_a_private_meeting_for_others(runs: dict[str, Result], store: dict[str, Any]) -> None:
    start = store["wednesday"].isoformat()
    for login in ("bjorn", "carla"):
        [block] = [e for e in _column(runs["json"].json(), login) if e["start"] == start and e["private"]]
        assert block == {"start": start, "end": (store["wednesday"] + timedelta(minutes=45)).isoformat(),
                         "all_day": False, "title": "Private", "busy": True, "tentative": login == "carla",
                         "private": True, "masked": True}
    for name in ("json", "text"):
        text = runs[name].out
        for word in (SECRET, "Bjorn's office", "Do not tell anna", "board only", f"#{store['secret']} "):
            assert word not in text, (name, word)
    assert not any(e.get("id") == store["secret"] for e in _column(runs["json"].json(), "anna"))


def test_overview_shows_a_private_meeting_in_full_to_its_owner_and_participants(
        runs: dict[str, Result], store: dict[str, Any]) -> None:
    overview = runs["as bjorn"].json()
    assert overview["viewer"] == "bjorn"
    for login in ("bjorn", "carla"):
        [entry] = [e for e in _column(overview, login) if e.get("id") == store["secret"]]
        assert (entry["title"], entry["location"], entry["kind"], entry["masked"], entry["private"]) == (
            SECRET, "Bjorn's office", "meeting", False, True)
        assert entry["owner"] == "bjorn" and entry["tentative"] == (login == "carla")
    text = runs["as carla text"].out
    assert text.count(f"#{store['secret']}") == 2 and "Private" not in text


def test_overview_text_is_one_block_per_day_and_lines_per_user(runs: dict[str, Result],
                                                               store: dict[str, Any]) -> None:
    lines = runs["text"].out.splitlines()
    assert lines[0].startswith("Overview ") and "as anna" in lines[0] and "Europe/Oslo" in lines[0]
    days = [line for line in lines if line[:3] in ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")]
    assert len(days) == 7
    wednesday = lines.index(f"Wed {store['wednesday'].date()}")
    block = lines[wednesday + 1:lines.index(days[3])]
    assert [line.split()[0] for line in block if line and not line.startswith("    ")] == list(TEAM)
    assert [line.split()[-4:] for line in block if "Private" in line] == [
        ["10:00-10:45", "P", "-", "Private"], ["10:00-10:45", "Pt", "-", "Private"]]


def test_overview_of_a_day_in_the_viewers_order(runs: dict[str, Result], store: dict[str, Any]) -> None:
    overview = runs["day"].json()
    assert overview["from"] == overview["to"] == store["wednesday"].date().isoformat()
    assert [u["login"] for u in overview["users"]] == ["carla", "anna"] and overview["viewer"] == "carla"
    assert any(e.get("id") == store["secret"] and e["title"] == SECRET for e in _column(overview, "carla"))


@pytest.mark.parametrize(("args", "expect"), [
    (["--overview", "anna,nobody,ghost"], "no user 'nobody', 'ghost' (see `followups user list`)"),
    (["--overview", "anna", "--as", "nobody"], "no user 'nobody'"),
    (["--overview", ",".join(f"u{n}" for n in range(21))], "at most 20 users, not 21"),
    (["--overview", "anna,bjorn", "--month", "2030-01"], "the Overview is a day or week plan"),
    (["--overview", "anna", "--week", "9999-W52"], "outside the days a diary shows"),
    (["anna", "--overview", "bjorn"], "not both"),
    (["anna", "--as", "bjorn"], "--as goes with --overview"),
    ([], "give a USER, or --overview"),
])
def test_overview_bad_input_is_one_line(module_url: str, store: dict[str, Any], args: list[str],
                                        expect: str) -> None:
    [result] = run_batch(module_url, [(["diary", *args], "")])
    assert result.code == 2 and result.out == ""
    assert expect in result.error_line()


def test_todo_overdue_column_has_a_header(runs: dict[str, Result]) -> None:
    header = runs["todo"].out.splitlines()[0].split()
    assert header == ["DEADLINE", "OVERDUE", "KIND", "ID", "TITLE", "TYPE", "COMPANY"]


def test_diary_location_falls_back_to_the_booked_room(runs: dict[str, Result], store: dict[str, Any]) -> None:
    [entry] = [e for e in runs["diary anna"].json() if e["id"] == store["room"]]
    assert entry["location"] == "Glacier meeting room"
    [line] = [line for line in runs["anna diary text"].out.splitlines() if "Room without location" in line]
    assert line.endswith("Glacier meeting room")
    [shown] = [e for e in _column(runs["json"].json(), "anna") if e.get("id") == store["room"]]
    assert shown["location"] == "Glacier meeting room"


@pytest.mark.parametrize("args", [
    ["--month", "9999-12"], ["--month", "0001-01"], ["--week", "9999-W52"], ["--week", "0001-W01"],
    ["--day", "9999-12-31"], ["--day", "0001-01-01"],
])
def test_diary_at_the_ends_of_the_calendar_is_one_line_not_a_traceback(module_url: str, store: dict[str, Any],
                                                                        args: list[str]) -> None:
    [result] = run_batch(module_url, [(["diary", "anna", *args], "")])
    assert result.code == 2 and result.out == ""
    assert f"{' '.join(args)} is outside the days a diary shows (0002-01-01 to 9998-12-31)" in result.error_line()


def test_diary_just_inside_the_ends_of_the_calendar(module_url: str, store: dict[str, Any]) -> None:
    results = run_batch(module_url, [(["diary", "anna", *args, "--json"], "") for args in (
        ["--month", "9998-12"], ["--day", "0002-01-01"], ["--week", "9998-W52"])])
    assert [(r.code, r.json(), r.err) for r in results] == [(0, [], "")] * 3
