"""``followups demo`` then the CRM's views: the acceptance path of the CLI."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.cli.clirun import Result, ok, run_batch, run_cli
from tests.cli.dbdump import dump_tables

ANNA = ZoneInfo("Europe/Oslo")


def _parse(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    assert moment.tzinfo is not None, f"{text} has no offset"
    return moment


@pytest.fixture(scope="module")
def demo(module_url: str) -> dict[str, Any]:
    result = ok(module_url, "demo", "--json")
    assert result.err == "", "no progress bar when stderr is not a terminal"
    return dict(result.json())


@pytest.fixture(scope="module")
def views(module_url: str, demo: dict[str, Any]) -> dict[str, Result]:
    now = datetime.now(ANNA)
    year, week, _ = now.isocalendar()
    company = demo["company_ids"][0]
    names = {
        "week": ["diary", "anna", "--week", f"{year}-W{week:02d}", "--json"],
        "month": ["diary", "anna", "--month", now.strftime("%Y-%m"), "--json"],
        "day": ["diary", "anna", "--day", now.date().isoformat()],
        "table": ["diary", "anna", "--week", f"{year}-W{week:02d}"],
        "activities": ["activities", "--company", str(company), "--json"],
        "todo": ["todo", "bjorn", "--json"],
        "users": ["user", "list", "--json"],
        "fields": ["field", "list", "--json"],
        "resources": ["resource", "list", "--json"],
    }
    results = run_batch(module_url, [(args, "") for args in names.values()])
    for name, result in zip(names, results, strict=True):
        assert result.code == 0, f"{name}: {result.err}"
    return dict(zip(names, results, strict=True))


def test_demo_directory(demo: dict[str, Any], views: dict[str, Result]) -> None:
    assert [u["login"] for u in demo["users"]] == ["anna", "bjorn", "carla", "david"]
    assert {u["password"] for u in demo["users"]} == {"demo"}
    assert 190 <= demo["followups"] <= 230
    assert len(demo["company_ids"]) == 10
    users = views["users"].json()
    assert all(u["has_password"] for u in users)
    assert {u["tz"] for u in users} >= {"Europe/Oslo", "America/New_York"}
    resources = views["resources"].json()
    assert sorted(r["kind"] for r in resources) == ["equipment", "room", "room", "room"]
    assert all(r["email"].endswith("@example.com") for r in resources)
    assert {f["type"] for f in views["fields"].json()} == {"text", "number", "date", "yesno", "list"}


def test_week_diary_lists_meetings_and_calls_with_occurrences(views: dict[str, Result]) -> None:
    entries = views["week"].json()
    assert {e["kind"] for e in entries} >= {"meeting", "call"}
    now = datetime.now(ANNA)
    monday = datetime.combine(now.date() - timedelta(days=now.weekday()), datetime.min.time(), tzinfo=ANNA)
    for e in entries:
        if not e["all_day"]:
            assert _parse(e["start"]) < monday + timedelta(days=7) and _parse(e["end"]) > monday, e
    recurring = [e for e in entries if e["recurring"]]
    assert recurring, "the weekly series show up in every week"
    assert all(e["recurrence_id"] for e in recurring)
    assert any(e["owner"] != "anna" for e in entries), "invitations from colleagues are in anna's diary"
    starts = [_parse(e["start"]) for e in entries if not e["all_day"]]
    assert starts == sorted(starts)


def test_month_diary_expands_each_weekly_series(views: dict[str, Result]) -> None:
    entries = views["month"].json()
    series = Counter(e["id"] for e in entries if e["recurring"])
    assert series and max(series.values()) >= 3
    for id in series:
        starts = [e["start"] for e in entries if e["id"] == id]
        assert len(set(starts)) == len(starts), "each occurrence once"


def test_human_diary_is_a_table(views: dict[str, Result]) -> None:
    lines = views["table"].out.splitlines()
    assert lines[0].split() == ["WHEN", "KIND", "ID", "FLAGS", "TITLE", "OWNER", "LOCATION"]
    assert set(lines[1]) <= {"-", " "}
    assert any(" call " in line for line in lines[2:])


def test_activities_include_todos(views: dict[str, Result]) -> None:
    items = views["activities"].json()
    kinds = {i["kind"] for i in items}
    assert "todo" in kinds and len(kinds) >= 2
    assert {i["status"] for i in items} - {"open", "done", "made", "planned", "cancelled"} == set()


def test_todo_list_is_open_todos_and_planned_calls_by_deadline(views: dict[str, Result]) -> None:
    items = views["todo"].json()
    assert items and all(i["status"] in ("open", "planned") for i in items)
    assert all(i["kind"] == "todo" or i["status"] == "planned" for i in items)


def test_demo_refuses_a_store_with_data(module_url: str, views: dict[str, Result]) -> None:
    before = dump_tables(module_url)
    result = run_cli(module_url, "demo")
    assert result.code == 1
    assert "already holds data" in result.error_line()
    assert dump_tables(module_url) == before


def test_prune_tombstones(tmp_path: Any) -> None:
    """A removal is remembered for the clients' next sync until pruned; the command says how many
    it forgot, and refuses a negative age in one line."""
    url = f"sqlite:///{tmp_path / 'prune.db'}"
    assert ok(url, "demo", "--json").json()["followups"] > 0
    assert ok(url, "prune-tombstones", "--json").json() == {"pruned": 0, "older_than_days": 90}
    ok(url, "delete", "1")
    assert ok(url, "prune-tombstones", "--older-than", "1", "--json").json()["pruned"] == 0
    forgot = ok(url, "prune-tombstones", "--older-than", "0", "--json").json()["pruned"]
    assert forgot >= 1  # the owner's copy, and any invitee's or room's
    assert ok(url, "prune-tombstones", "--older-than", "0").out.startswith("forgot 0 removal(s)")
    bad = run_cli(url, "prune-tombstones", "--older-than", "-3")
    assert bad.code == 2 and "-3 is negative" in bad.err
