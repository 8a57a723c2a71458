"""A client's PUT of a changed object rewrites only what changed: the
follow-up's participants, bookings and custom values stay the same rows when
the client left them alone (store.convert.followup_to_row), and are replaced
when it changed them."""

from __future__ import annotations

from sqlalchemy import select

from store.orm import ParticipantRow
from tests.server.caldav_support import LiveServer, followups_by_uid, user, vevent

INVITE = ("ORGANIZER;CN=Anna Berg:mailto:anna@example.com",
          "ATTENDEE;CN=Bjørn Dahl;PARTSTAT=NEEDS-ACTION:mailto:bjorn@example.com",
          "ATTENDEE;CN=Guest;PARTSTAT=NEEDS-ACTION:mailto:guest@partner.example")


def participant_rows(live: LiveServer, followup_id: int) -> list[tuple[int, str, str]]:
    with live.engine.connect() as conn:
        return [(r.id, r.email, r.partstat) for r in conn.execute(
            select(ParticipantRow).where(ParticipantRow.followup_id == followup_id).order_by(ParticipantRow.position))]


def test_a_changed_summary_keeps_the_participant_rows(live: LiveServer) -> None:
    dav = live.dav("anna")
    text = vevent("chg-1", "Before", extra=INVITE)
    assert dav.put("anna/meetings/c.ics", text, If_None_Match="*").status_code == 201
    (f,) = followups_by_uid(live.engine, "chg-1")
    assert f.id is not None
    before = participant_rows(live, f.id)
    assert len(before) == 2

    etag = dav.get("anna/meetings/c.ics").headers["ETag"]
    r = dav.put("anna/meetings/c.ics", text.replace("SUMMARY:Before", "SUMMARY:After"), If_Match=etag)
    assert r.status_code == 204, r.text
    (after,) = followups_by_uid(live.engine, "chg-1")
    assert after.title == "After"
    assert participant_rows(live, f.id) == before
    assert "SUMMARY:After" in dav.get("anna/meetings/c.ics").text

    etag = dav.get("anna/meetings/c.ics").headers["ETag"]
    declined = text.replace("SUMMARY:Before", "SUMMARY:After").replace(
        "PARTSTAT=NEEDS-ACTION:mailto:guest", "PARTSTAT=DECLINED:mailto:guest")
    assert dav.put("anna/meetings/c.ics", declined, If_Match=etag).status_code == 204
    rows = participant_rows(live, f.id)
    assert [(email, partstat) for _, email, partstat in rows] == [
        (None, "NEEDS-ACTION"), ("guest@partner.example", "DECLINED")]  # a CRM user is kept by id

    etag = dav.get("anna/meetings/c.ics").headers["ETag"]
    fewer = declined.replace("ATTENDEE;CN=Guest;PARTSTAT=DECLINED:mailto:guest@partner.example\r\n", "")
    assert dav.put("anna/meetings/c.ics", fewer, If_Match=etag).status_code == 204
    assert [email for _, email, _ in participant_rows(live, f.id)] == [None]
    assert [p.user_id for p in followups_by_uid(live.engine, "chg-1")[0].participants] == [user(live.engine,
                                                                                                "bjorn").id]
