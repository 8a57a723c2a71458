"""Every process-wide cache stays within the bound its setting gives
(server.services.caches, docs/memory.md): each is filled past a small bound
through the code that uses it, and holds no more than the bound; the server
and the CLI apply the settings at start-up."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from icalendar.timezone import tzp
from sqlalchemy import Engine

import mapping
from mapping import serialize
from server import config
from server.cli.main import main as cli_main
from server.dav.app import make_app
from server.services import auth, caches, calendars, export, feeds, freebusy, privacy
from server.services import followups as services
from server.services.directory import DbDirectory
from server.services.lru import Lru
from server.services.transaction import transaction
from store.domain import Company, Kind, Participant, PartStat, User, new_meeting

DEFAULTS = config.load(None, {}, {})
SMALL = {"login_cache_entries": 2, "mask_cache_entries": 2, "export_cache_entries": 2,
         "overlap_cache_entries": 2, "timezone_cache_entries": 2, "recurrence_cache_entries": 2,
         "line_cache_entries": 2}


def _sizes() -> dict[str, int]:
    return {"login_cache_entries": len(auth.VERIFIED), "mask_cache_entries": len(privacy.MASKED),
            "export_cache_entries": len(export.NEUTRAL), "overlap_cache_entries": len(calendars.OVERLAPS),
            "timezone_cache_entries": len(tzp._TZP__tz_cache),  # type: ignore[attr-defined]
            "recurrence_cache_entries": len(freebusy.SERIES), "line_cache_entries": len(serialize._lines)}


def _bounds() -> dict[str, int]:
    return {"login_cache_entries": auth.VERIFIED.entries, "mask_cache_entries": privacy.MASKED.entries,
            "export_cache_entries": export.NEUTRAL.entries, "overlap_cache_entries": calendars.OVERLAPS.entries,
            "timezone_cache_entries": tzp._TZP__tz_cache.entries,  # type: ignore[attr-defined]
            "recurrence_cache_entries": freebusy.SERIES.entries, "line_cache_entries": serialize._kept}


@pytest.fixture
def small() -> Iterator[None]:
    """Every cache bounded at two entries, and back to the defaults afterwards."""
    caches.configure(config.load(None, SMALL, {}))
    try:
        yield
    finally:
        caches.configure(DEFAULTS)


def event(uid: str, tzid: str = "Europe/Oslo", rule: str = "") -> str:
    """A VEVENT; a TZID other than an IANA name comes with a VTIMEZONE of its own."""
    zone = "" if tzid == "Europe/Oslo" else (
        f"BEGIN:VTIMEZONE\r\nTZID:{tzid}\r\nBEGIN:STANDARD\r\nDTSTART:19700101T000000\r\n"
        "TZOFFSETFROM:+0100\r\nTZOFFSETTO:+0100\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n")
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n" + zone
            + f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nCLASS:PRIVATE\r\n"
            f"DTSTART;TZID={tzid}:20260105T100000\r\nDTEND;TZID={tzid}:20260105T110000\r\n"
            + (f"RRULE:{rule}\r\n" if rule else "") + "SUMMARY:Secret\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")


def test_the_lru_keeps_the_most_recently_used_up_to_its_bound() -> None:
    lru: Lru[str, int] = Lru(2)
    lru.put("a", 1)
    lru.put("b", 2)
    assert lru.get("a") == 1
    lru.put("c", 3)
    assert (lru.get("a"), lru.get("b"), lru.get("c"), len(lru)) == (1, None, 3, 2)
    lru.resize(1)
    assert (lru.get("a"), lru.get("c"), len(lru)) == (None, 3, 1)
    lru.resize(0)
    lru.put("d", 4)
    assert (lru.get("d"), len(lru)) == (None, 0)


def test_a_weighed_lru_bounds_the_sum_of_its_values() -> None:
    """Feed bodies are bounded in bytes (feed_cache_mb): a body larger than the
    bound is not kept, and older ones go to make room."""
    lru: Lru[str, bytes] = Lru(10, weigh=len)
    lru.put("a", b"1234")
    lru.put("b", b"12345")
    assert (lru.size, len(lru)) == (9, 2)
    lru.put("c", b"123")
    assert (lru.get("a"), lru.get("b"), lru.get("c"), lru.size) == (None, b"12345", b"123", 8)
    lru.put("big", b"x" * 11)
    assert (lru.get("big"), lru.size) == (None, 8)
    lru.put("b", b"1")
    assert lru.size == 4


def test_feed_bodies_follow_their_setting() -> None:
    caches.configure(config.load(None, {"feed_cache_mb": "1"}, {}))
    try:
        assert feeds.BODIES.entries == 1024 * 1024
    finally:
        caches.configure(DEFAULTS)
    assert feeds.BODIES.entries == DEFAULTS.feed_cache_mb * 1024 * 1024


def test_busy_blocks_and_overlap_indexes_stay_within_their_bounds(small: None) -> None:
    for n in range(4):
        text = event(f"masked-{n}", rule="FREQ=WEEKLY;COUNT=5")
        block, _ = privacy.masked(text, f'"etag-{n}"')
        assert "Secret" not in block
        second_week = (datetime(2026, 1, 12, 9, tzinfo=UTC), datetime(2026, 1, 12, 12, tzinfo=UTC))
        index = calendars._overlap_index(_Stored(text, f'"etag-{n}"'))
        assert index.overlaps(*(int(t.timestamp()) for t in second_week))
    assert (len(privacy.MASKED), len(calendars.OVERLAPS)) == (2, 2)
    assert privacy.MASKED.get('"etag-3"') is not None and privacy.MASKED.get('"etag-0"') is None


@dataclass
class _Stored:
    """What ``calendars._overlap_index`` reads of a stored object."""

    text: str
    etag: str


def test_zones_clients_name_stay_within_the_bound(small: None) -> None:
    for n in range(5):
        cal = mapping.parse_calendar(event(f"zoned-{n}", tzid=f"My Zone {n}"))
        start = next(c for c in cal.subcomponents if c.name == "VEVENT")["DTSTART"].dt
        assert start.utcoffset().total_seconds() == 3600
    assert len(tzp._TZP__tz_cache) <= 2  # type: ignore[attr-defined]


def test_written_lines_stay_within_the_bound_and_write_the_same_text(engine: Engine) -> None:
    """The folded lines rendering keeps (line_cache_entries): never more than the
    bound, and a follow-up renders to the same text with the cache off, small or
    large (the lines it keeps are keyed by all they depend on)."""
    ada = services.add_user(engine, User("ada", "Ada", "ada@example.com", tz="Europe/Oslo"), "pw")
    with transaction(engine) as uow:
        meeting = uow.types.default(Kind.MEETING).id
        uow.commit()
    assert meeting is not None
    made = [services.create(engine, new_meeting(ada, f"Visit {day}", meeting,
                                                 datetime(2026, 3, day, 10 + day % 3, tzinfo=UTC)))
            for day in range(1, 6)]
    texts: dict[int, list[str]] = {}
    try:
        for entries in (0, 2, 4096):
            caches.configure(config.load(None, {"line_cache_entries": str(entries)}, {}))
            rendered = []
            for f in made * 2:
                with transaction(engine) as uow:
                    rendered.append(mapping.render_text(uow.followups.get(f.id), DbDirectory(uow)))
                assert len(serialize._lines) <= entries
            texts[entries] = rendered
    finally:
        caches.configure(DEFAULTS)
    assert texts[0] == texts[2] == texts[4096]
    assert len(set(texts[0])) == 5


def test_long_texts_are_not_kept_as_written_lines(engine: Engine) -> None:
    """A hostile client's long texts (a huge title or an attendee's CN) are
    written afresh each time, never kept: the bound on entries stays a bound
    on memory."""
    ada = services.add_user(engine, User("ada", "Ada", "ada@example.com", tz="Europe/Oslo"), "pw")
    with transaction(engine) as uow:
        meeting = uow.types.default(Kind.MEETING).id
        uow.commit()
    assert meeting is not None
    made = services.create(engine, new_meeting(ada, "x" * 20_000, meeting, datetime(2026, 3, 2, 10, tzinfo=UTC),
                                               participants=[Participant(email="eve@example.com", name="E" * 250)]))
    serialize._lines.clear()
    with transaction(engine) as uow:
        text = mapping.render_text(uow.followups.get(made.id), DbDirectory(uow))
    assert "x" * 1000 in text.replace("\r\n ", "") and "E" * 250 in text.replace("\r\n ", "")
    assert serialize._lines and max(len(line) for line in serialize._lines.values()) <= serialize.LINE_KEPT_CHARS
    assert not any("xxxxxxxxxx" in line or "EEEEEEEEEE" in line for line in serialize._lines.values())


def test_remembered_logins_stay_within_the_bound(engine: Engine, small: None) -> None:
    for login in ("ada", "bo", "cy"):
        services.add_user(engine, User(login, login.title(), f"{login}@example.com"), "pw-" + login)
    for login in ("ada", "bo", "cy"):
        assert auth.authenticate(engine, login, "pw-" + login)
    assert len(auth.VERIFIED) == 2
    with engine.connect() as conn:
        assert [auth.recently_verified(conn, login, "pw-" + login) for login in ("ada", "bo", "cy")] == [
            False, True, True]


def test_neutral_copies_for_record_exports_stay_within_the_bound(engine: Engine, small: None) -> None:
    ada = services.add_user(engine, User("ada", "Ada", "ada@example.com"), "pw")
    bo = services.add_user(engine, User("bo", "Bo", "bo@example.com"), "pw")
    with transaction(engine) as uow:
        acme = uow.companies.add(Company("Acme AS")).id
        meeting = uow.types.default(Kind.MEETING).id
        uow.commit()
    assert acme is not None and meeting is not None and bo.id is not None
    for day in range(1, 5):
        services.create(engine, new_meeting(ada, f"Visit {day}", meeting, datetime(2026, 3, day, 10, tzinfo=UTC),
                                            company_id=acme,
                                            participants=[Participant(user_id=bo.id, partstat=PartStat.ACCEPTED)]))
    export.NEUTRAL.clear()
    found = export.export(engine, export.Selection(None, "company", record_id=acme))
    assert found.followups == 4
    assert len(export.NEUTRAL) == 2


def test_the_server_and_the_cli_apply_the_settings(db_url: str, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: Any) -> None:
    try:
        make_app(config.load(None, {**SMALL, "database": db_url}, {}))
        assert _bounds() == SMALL
        caches.configure(DEFAULTS)
        for key in SMALL:
            monkeypatch.setenv(config.SCHEMA[key]["env"], "3")
        assert cli_main(["--database", db_url, "init"]) == 0
        assert _bounds() == dict.fromkeys(SMALL, 3)
        assert all(size <= 3 for size in _sizes().values())
    finally:
        caches.configure(DEFAULTS)
