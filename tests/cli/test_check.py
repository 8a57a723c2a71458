"""``followups check [--repair]``: the calendars against the follow-ups.

The store is damaged directly in SQL, the way a hand-made fix, a partial
restore or a lost page would, and every kind of damage must be reported
(exit 1) and repaired (exit 0, and a second check is clean).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from server.cli.main import main
from server.services import calendars, check
from server.services import followups as services
from server.services.errors import InvalidSyncToken
from server.services.transaction import transaction
from store.domain import Followup, Kind, Participant, PartStat, Resource, ResourceKind, User, new_meeting, new_todo

START = datetime(2026, 3, 3, 10, 0, tzinfo=UTC)


@pytest.fixture
def closes_engine(engine: Engine) -> Iterator[None]:
    """``main`` forgets the process's engines when it returns; the ``engine`` fixture's
    own is closed here."""
    yield
    engine.dispose()


def _people(engine: Engine) -> int:
    """Users anna, bjorn and carla, and room fjord (its id)."""
    for login in ("anna", "bjorn", "carla"):
        services.add_user(engine, User(login, login.title(), f"{login}@example.com", tz="Europe/Oslo"))
    room = services.add_resource(engine, Resource("fjord", "Room Fjord", ResourceKind.ROOM, "fjord@example.com"))
    assert room.id is not None
    return room.id


def _meeting(engine: Engine, owner: str, title: str, invite: Sequence[str] = (), rooms: Sequence[int] = (),
             uid: str | None = None) -> Followup:
    with transaction(engine, write=False) as uow:
        who = uow.users.by_login(owner)
        type_id = int(uow.types.default(Kind.MEETING).id or 0)
        guests = [uow.users.by_login(login) for login in invite]
    fields: dict[str, Any] = {"uid": uid} if uid else {}
    f = new_meeting(who, title, type_id, START, resource_ids=list(rooms),
                    participants=[Participant(email=g.email, name=g.name, user_id=g.id, partstat=PartStat.ACCEPTED)
                                  for g in guests], **fields)
    return services.create(engine, f)


def _todo(engine: Engine, owner: str, title: str) -> Followup:
    with transaction(engine, write=False) as uow:
        who = uow.users.by_login(owner)
        type_id = int(uow.types.default(Kind.TODO).id or 0)
    return services.create(engine, new_todo(who, title, type_id, START))


def _cli(capsys: pytest.CaptureFixture[str], url: str, *args: str) -> tuple[int, str]:
    code = main(["--database", url, "check", *args])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out


def _collection(engine: Engine, principal: str, name: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT id FROM collections WHERE principal = :p AND name = :n"),
                                {"p": principal, "n": name}).scalar_one())


def _token(engine: Engine, cid: int) -> str:
    return calendars.sync(engine, cid, "")[0]


def _insert_object(engine: Engine, cid: int, followup_id: int, href: str) -> None:
    """A calendar object written behind the application's back; for a follow-up that
    does not exist, with the foreign keys switched off as a bad restore would."""
    row = {"c": cid, "h": href, "u": href[:-4], "f": followup_id, "t": "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n",
           "now": datetime(2026, 1, 1)}
    insert = ("INSERT INTO calendar_objects (collection_id, href, uid, followup_id, component, text, etag, start_ts, "
              "end_ts, exact, rev, modified_at, private) VALUES (:c, :h, :u, :f, 'VEVENT', :t, '\"x\"', 0, 1, "
              "true, (SELECT rev FROM collections WHERE id = :c), :now, false)")
    if engine.dialect.name == "sqlite":
        raw = sqlite3.connect(engine.url.database or "")
        raw.execute("PRAGMA foreign_keys=OFF")
        raw.execute(insert.replace("true", "1").replace("false", "0"), row)
        raw.commit()
        raw.close()
        return
    with engine.begin() as conn:
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        conn.execute(text(insert), row)


@pytest.mark.usefixtures("closes_engine")
def test_a_clean_store_checks_clean(engine: Engine, db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    room = _people(engine)
    _meeting(engine, "anna", "Kick-off", ["bjorn"], [room])
    _todo(engine, "bjorn", "Send the offer")
    code, out = _cli(capsys, db_url)
    assert code == 0, out
    assert out.splitlines() == ["checked 2 follow-up(s), 4 object(s) in 7 collection(s): "
                                "the calendars match the follow-ups"]


@pytest.mark.usefixtures("closes_engine")
def test_damage_is_reported_and_repaired(engine: Engine, db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    room = _people(engine)
    kickoff = _meeting(engine, "anna", "Kick-off", ["bjorn"], [room])
    review = _meeting(engine, "bjorn", "Review", [], [room])
    offer = _todo(engine, "anna", "Send the offer")
    for n in range(5):  # more than one batch of two
        _todo(engine, "bjorn", f"Call back {n}")
    bjorn_meetings, anna_meetings = _collection(engine, "bjorn", "meetings"), _collection(engine, "anna", "meetings")
    bjorn_token, anna_token = _token(engine, bjorn_meetings), _token(engine, anna_meetings)
    assert check.check(engine, batch=2).ok

    with engine.begin() as conn:
        # An invitee's copy deleted, a booking's object dropped.
        conn.execute(text("DELETE FROM calendar_objects WHERE collection_id = :c AND followup_id = :f"),
                     {"c": bjorn_meetings, "f": kickoff.id})
        conn.execute(text("DELETE FROM calendar_objects WHERE collection_id = :c AND followup_id = :f"),
                     {"c": _collection(engine, "fjord", "bookings"), "f": review.id})
        # An object's text changed.
        conn.execute(text("UPDATE calendar_objects SET text = replace(text, 'Send the offer', 'Tampered') "
                          "WHERE followup_id = :f"), {"f": offer.id})
        # A revision set backwards.
        conn.execute(text("UPDATE collections SET rev = 0 WHERE id = :c"), {"c": anna_meetings})
        # A collection gone, and a removal recorded at a live member's href.
        conn.execute(text("DELETE FROM collections WHERE principal = 'carla' AND name = 'tasks'"))
        conn.execute(text("INSERT INTO tombstones (collection_id, href, rev, at) "
                          "SELECT collection_id, href, rev, modified_at FROM calendar_objects WHERE followup_id = :f"),
                     {"f": review.id})
    # An extra copy for someone not invited, and an object without a follow-up.
    _insert_object(engine, _collection(engine, "carla", "meetings"), int(kickoff.id or 0), f"{kickoff.uid}.ics")
    _insert_object(engine, bjorn_meetings, 999_999, "ghost.ics")

    code, out = _cli(capsys, db_url)
    assert code == 1, out
    lines = out.splitlines()
    expected = [
        f"missing /bjorn/meetings/: no object for follow-up {kickoff.id} ({kickoff.uid})",
        f"missing /fjord/bookings/: no object for follow-up {review.id} ({review.uid})",
        f"differs /anna/tasks/{offer.uid}.ics: text differs from follow-up {offer.id} as rendered now",
        "collection /carla/tasks/: is missing",
        f"extra /carla/meetings/{kickoff.uid}.ics: follow-up {kickoff.id} ({kickoff.uid}) does not show in "
        "this collection",
        "orphan /bjorn/meetings/ghost.ics: its follow-up 999999 does not exist",
        "tombstone /bjorn/meetings/: 1 removal(s) at the href of a member that exists",
    ]
    for line in expected:
        assert line in lines, out
    assert any(line.startswith("revision /anna/meetings/: a member is at revision ") for line in lines), out
    assert lines[-1].endswith("8 problem(s) (1 collection, 1 differs, 1 extra, 2 missing, 1 orphan, 1 revision, "
                              "1 tombstone)"), out
    assert len(lines) == 9, out
    assert check.check(engine, batch=2).counts == check.check(engine).counts

    code, out = _cli(capsys, db_url, "--repair", "--json")
    assert code == 0, out
    report = json.loads(out)
    assert {p["kind"] for p in report["problems"]} == {"collection", "differs", "extra", "missing", "orphan",
                                                       "revision", "tombstone"}
    assert report["summary"]["ok"] is False and report["repaired"] >= 7
    assert report["after"] == {"problems": [], "summary": report["after"]["summary"]}
    assert report["after"]["summary"]["ok"] is True

    code, out = _cli(capsys, db_url)
    assert code == 0, out
    # A client syncing by its old token fetches the restored copy and sees the ghost go;
    # a calendar whose revisions were broken is synced afresh.
    _, changed = calendars.sync(engine, bjorn_meetings, bjorn_token)
    assert f"{kickoff.uid}.ics" in changed and "ghost.ics" in changed
    with pytest.raises(InvalidSyncToken):
        calendars.sync(engine, anna_meetings, anna_token)
    with transaction(engine, write=False) as uow:
        (copy,) = [o for o in uow.calendars.objects_of(int(offer.id or 0))]
        assert "Send the offer" in copy.text and "Tampered" not in copy.text


@pytest.mark.usefixtures("closes_engine")
def test_a_uid_two_owners_share_is_not_reported(engine: Engine, db_url: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """A calendar holds one object per UID (RFC 4791 5.3.2.1): when two owners' meetings with
    one UID both invite carla, she has the first; the second missing there is no damage."""
    _people(engine)
    _meeting(engine, "anna", "Anna's", ["carla"], uid="shared-uid")
    _meeting(engine, "bjorn", "Bjørn's", ["carla"], uid="shared-uid")
    code, out = _cli(capsys, db_url)
    assert code == 0, out


def test_a_broken_sqlite_file_is_reported_and_not_repaired(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """``PRAGMA foreign_key_check`` (and ``integrity_check``) problems are the file's own:
    reported, never "repaired" by a re-projection; the answer is a backup."""
    url = f"sqlite:///{tmp_path / 'followups.db'}"
    engine = services.open_store(url)
    _people(engine)
    raw = sqlite3.connect(engine.url.database or "")
    raw.execute("PRAGMA foreign_keys=OFF")
    raw.execute("INSERT INTO grants (lead_id, user_id) VALUES (1, 4242)")
    raw.commit()
    raw.close()
    for args in ((), ("--repair",)):
        code, out = _cli(capsys, url, *args)
        assert code == 1, out
        assert "integrity store: SQLite: row 1 of grants refers to a missing users row" in out.splitlines()
        assert "restore a backup (see docs/backup.md)" in out
