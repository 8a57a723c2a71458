"""DELETE in one's own calendar is answered by ``server.dav.delete``, without
Radicale, and answers as Radicale does; everything else still goes to Radicale.

Whether Radicale saw a request is told by the storage plugin's
``Collection.delete``, which only Radicale's DELETE calls.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator

import pytest
import requests
from sqlalchemy import Engine

from plugins import storage
from server.dav import delete as delete_path
from tests.server.caldav_support import (
    XMLNS,
    Dav,
    LiveServer,
    dump,
    followups_by_uid,
    put_new,
    responses,
    sync_token,
    vevent,
    vtodo,
)

RADICALE_404 = b"The requested resource could not be found."


@pytest.fixture
def via_radicale(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str | None]]:
    """The hrefs Radicale's DELETE reached the storage plugin with."""
    seen: list[str | None] = []
    original = storage.Collection.delete

    def recorded(self: storage.Collection, href: str | None = None) -> None:
        seen.append(href)
        original(self, href)

    monkeypatch.setattr(storage.Collection, "delete", recorded)
    yield seen


def token_of(dav: Dav, collection: str) -> str:
    r = dav.sync(collection)
    assert r.status_code == 207, r.text
    return sync_token(r)


def removed_since(dav: Dav, collection: str, token: str) -> set[str]:
    """The hrefs a sync from ``token`` reports as removed (RFC 6578 3.5)."""
    r = dav.sync(collection, token)
    assert r.status_code == 207, r.text
    return {x.href.rsplit("/", 1)[-1] for x in responses(r) if x.status is not None and " 404 " in x.status}


def test_own_delete_with_if_match_never_reaches_radicale(live: LiveServer, via_radicale: list[str | None]) -> None:
    dav = live.dav("anna")
    etag = put_new(dav, "anna/meetings/m.ics", vevent("fast-del-1", "To go"))
    token = token_of(dav, "anna/meetings/")
    before = dump(live.engine)

    wrong = dav.delete("anna/meetings/m.ics", If_Match='"not-the-etag"')
    assert wrong.status_code == 412
    assert dump(live.engine) == before
    assert dav.get("anna/meetings/m.ics").status_code == 200

    done = dav.delete("anna/meetings/m.ics", If_Match=etag)
    assert done.status_code == 200, done.text
    assert done.headers["Content-Type"] == "text/xml; charset=utf-8"
    assert done.content == (b"<?xml version='1.0' encoding='utf-8'?>\n<multistatus xmlns=\"DAV:\"><response>"
                            b"<href>/anna/meetings/m.ics</href><status>HTTP/1.1 200 OK</status></response>"
                            b"</multistatus>")
    assert dav.get("anna/meetings/m.ics").status_code == 404
    assert followups_by_uid(live.engine, "fast-del-1") == []
    assert removed_since(dav, "anna/meetings/", token) == {"m.ics"}
    assert token_of(dav, "anna/meetings/") != token
    assert via_radicale == []


def test_a_missing_object_gets_radicales_404(live: LiveServer, via_radicale: list[str | None]) -> None:
    dav = live.dav("anna")
    for headers in ({}, {"If_Match": '"some-etag"'}):
        r = dav.delete("anna/tasks/never-there.ics", **headers)
        assert r.status_code == 404
        assert r.content == RADICALE_404
    r = dav.delete("anna/nosuchcalendar/x.ics")
    assert r.status_code == 404


def test_the_answer_is_the_one_radicale_gives(live: LiveServer, monkeypatch: pytest.MonkeyPatch,
                                              via_radicale: list[str | None]) -> None:
    """Byte for byte, plain and gzipped, against Radicale's own DELETE."""
    dav = live.dav("anna")
    answers: dict[str, list[requests.Response]] = {"fast": [], "radicale": []}
    for n, accept in enumerate(("identity", "gzip")):
        for way in ("fast", "radicale"):
            name = f"{way}-{n}.ics"
            etag = put_new(dav, f"anna/tasks/{name}", vtodo(f"same-{way}-{n}"))
            with monkeypatch.context() as m:
                if way == "radicale":
                    m.setattr(delete_path, "handle", lambda *args: None)
                r = dav.delete(f"anna/tasks/{name}", If_Match=etag, Accept_Encoding=accept)
            assert r.status_code == 200, r.text
            answers[way].append(r)
    assert via_radicale == ["radicale-0.ics", "radicale-1.ics"]
    for fast, theirs in zip(answers["fast"], answers["radicale"], strict=True):
        assert fast.raw.headers.get("Content-Encoding") == theirs.raw.headers.get("Content-Encoding")
        assert fast.headers["Content-Type"] == theirs.headers["Content-Type"]
        assert fast.content.replace(b"fast-", b"radicale-") == theirs.content
    assert answers["fast"][1].raw.headers.get("Content-Encoding") == "gzip"


def test_gzip_body_unpacks_to_the_plain_one(live: LiveServer) -> None:
    dav = live.dav("anna")
    etag = put_new(dav, "anna/tasks/z.ics", vtodo("gz-1"))
    r = dav.session.delete(dav.url("anna/tasks/z.ics"), headers={"If-Match": etag, "Accept-Encoding": "gzip"},
                           stream=True)
    packed = r.raw.read()
    assert r.headers["Content-Encoding"] == "gzip"
    assert b"<href>/anna/tasks/z.ics</href>" in gzip.decompress(packed)


def test_someone_elses_calendar_goes_to_radicale(live: LiveServer, via_radicale: list[str | None]) -> None:
    anna, bjorn = live.dav("anna"), live.dav("bjorn")
    put_new(anna, "anna/meetings/mine.ics", vevent("not-bjorns"))
    before = dump(live.engine)
    r = bjorn.delete("anna/meetings/mine.ics")
    assert r.status_code == 403
    assert dump(live.engine) == before
    wrong = requests.delete(anna.url("anna/meetings/mine.ics"), auth=("anna", "not-the-password"), timeout=30)
    assert wrong.status_code == 401
    assert dump(live.engine) == before
    assert via_radicale == []


def test_an_invitees_delete_of_their_copy_declines_without_radicale(
        live: LiveServer, via_radicale: list[str | None]) -> None:
    put_new(live.dav("anna"), "anna/meetings/inv.ics", vevent("inv-del", "Planning", extra=(
        "ORGANIZER;CN=Anna Berg:mailto:anna@example.com",
        "ATTENDEE;CN=Bjørn Dahl;PARTSTAT=NEEDS-ACTION:mailto:bjorn@example.com")))
    bjorn = live.dav("bjorn")
    etag = bjorn.get("bjorn/meetings/inv-del.ics").headers["ETag"]
    r = bjorn.delete("bjorn/meetings/inv-del.ics", If_Match=etag)
    assert r.status_code == 200, r.text
    assert bjorn.etags("bjorn/meetings/") == {}
    (kept,) = followups_by_uid(live.engine, "inv-del")
    assert [p.partstat.value for p in kept.participants if p.user_id is not None] == ["DECLINED"]
    assert via_radicale == []


def test_personal_calendar_delete_honours_if_match(live: LiveServer, via_radicale: list[str | None]) -> None:
    dav = live.dav("anna")
    body = (f'<?xml version="1.0" encoding="utf-8"?><C:mkcalendar{XMLNS}><D:set><D:prop>'
            "<D:displayname>Family</D:displayname></D:prop></D:set></C:mkcalendar>")
    made = dav.request("MKCALENDAR", "anna/family/", body, Content_Type="application/xml; charset=utf-8")
    assert made.status_code == 201, made.text
    etag = put_new(dav, "anna/family/p.ics", vevent("personal-del"))
    assert dav.delete("anna/family/p.ics", If_Match='"stale"').status_code == 412
    assert dav.get("anna/family/p.ics").status_code == 200
    assert dav.delete("anna/family/p.ics", If_Match=etag).status_code == 200
    assert dav.get("anna/family/p.ics").status_code == 404
    assert via_radicale == []


def test_deleting_a_followup_whose_copies_the_unit_of_work_holds_changed(engine: Engine) -> None:
    """``Calendars.remove_followup`` deletes the copies by a statement: a change to
    a copy still pending in the same unit of work is flushed first, and the copies
    the session holds are let go of (no stale row flushed after), in both of the
    follow-up deletes (the ORM's and the calendar DELETE's ``drop``)."""
    from sqlalchemy import select

    from server.services.transaction import transaction
    from store.domain import Participant
    from store.orm import ObjectRow, TombstoneRow
    from tests.server.caldav_support import add_people, crm_meeting, user

    add_people(engine)
    bjorn = user(engine, "bjorn")
    for how in ("delete", "drop"):
        f = crm_meeting(engine, "anna", f"Meeting to {how}", participants=[Participant(user_id=bjorn.id)])
        assert f.id is not None
        with transaction(engine) as uow:
            copies = uow.calendars.objects_of(f.id)
            assert len(copies) == 2  # anna's and bjorn's
            hrefs = {(c.collection_id, c.href) for c in copies}
            copies[0].text += " "  # pending, not flushed
            if how == "delete":
                uow.followups.delete(f.id)
            else:
                uow.followups.drop(f.id, f.uid)
            uow.commit()
        with engine.connect() as conn:
            assert conn.execute(select(ObjectRow.id).where(ObjectRow.followup_id == f.id)).all() == []
            tombs = set(conn.execute(select(TombstoneRow.collection_id, TombstoneRow.href)).all())
        assert hrefs <= tombs
