"""Invitees' own data (mapping spec): an invitee's alarms and client lines are
kept for their copy only; the organizer's alarm shows only on the organizer's
copy; a reply by PUT (ACCEPTED, TENTATIVE, DECLINED) works.

Regressions: an invitee's own alarm and X-MOZ-* lines were dropped when they
accepted from Thunderbird, the organizer's alarm appeared in every invitee's
copy and in the room's bookings, and a PUT with PARTSTAT=DECLINED answered
409 no-uid-conflict instead of declining.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from server.services import followups as services
from server.services.transaction import transaction
from store.domain import Participant, PartStat, User
from tests.server.caldav_support import PASSWORD, LiveServer, crm_meeting, followups_by_uid, retitle, unfold, user


def _reply(text: str, email: str, partstat: str, *extra: str) -> str:
    """A client's reply: its own attendee line's PARTSTAT changed, ``extra`` lines added to the event."""
    text = unfold(text).replace("\r\n", "\n")
    out = []
    for line in text.split("\n"):
        if line.startswith("ATTENDEE") and line.lower().endswith(f"mailto:{email}"):
            line = re.sub(r"PARTSTAT=[A-Z-]+", f"PARTSTAT={partstat}", line)
        if line == "END:VEVENT" and extra:
            out.extend(extra)
        out.append(line)
    return "\r\n".join(out)


def _meeting(live: LiveServer) -> tuple[str, str]:
    services.add_user(live.engine, User("carla", "Carla Eik", "carla@example.com", tz="Europe/Oslo"), PASSWORD)
    with transaction(live.engine) as uow:
        room = uow.resources.by_login("fjord")
    people = [Participant(user_id=user(live.engine, login).id, partstat=PartStat.NEEDS_ACTION)
              for login in ("bjorn", "carla")]
    f = crm_meeting(live.engine, "anna", "Planning", start=datetime(2026, 3, 3, 10, 0, tzinfo=UTC),
                    alarm_minutes=15, participants=people, resource_ids=[room.id])
    return f.uid, f"{f.uid}.ics"


def test_the_organizers_alarm_is_on_the_organizers_copy_only(live: LiveServer) -> None:
    _, name = _meeting(live)
    assert "TRIGGER:-PT15M" in live.dav("anna").get(f"anna/meetings/{name}").text
    for login, path in (("bjorn", "bjorn/meetings/"), ("carla", "carla/meetings/"), ("bjorn", "fjord/bookings/")):
        text = live.dav(login).get(path + name).text
        assert "VALARM" not in text, f"{path}: {text}"


def test_an_invitee_accepts_with_an_alarm_and_client_lines_of_his_own(live: LiveServer) -> None:
    uid, name = _meeting(live)
    mine = live.dav("bjorn").get(f"bjorn/meetings/{name}")
    reply = _reply(mine.text, "bjorn@example.com", "ACCEPTED", "X-MOZ-LASTACK:20260301T080000Z",
                   "X-MOZ-GENERATION:2", "BEGIN:VALARM", "ACTION:DISPLAY", "DESCRIPTION:Planning",
                   "TRIGGER:-PT5M", "END:VALARM")
    put = live.dav("bjorn").put(f"bjorn/meetings/{name}", reply, If_Match=mine.headers["ETag"])
    assert put.status_code in (200, 204), put.text

    [f] = followups_by_uid(live.engine, uid)
    [bjorn] = [p for p in f.participants if p.user_id == user(live.engine, "bjorn").id]
    assert bjorn.partstat is PartStat.ACCEPTED and bjorn.alarm_minutes == 5
    assert f.alarm_minutes == 15, "the organizer's alarm is the organizer's"

    his = unfold(live.dav("bjorn").get(f"bjorn/meetings/{name}").text)
    assert "X-MOZ-LASTACK:20260301T080000Z" in his and "TRIGGER:-PT5M" in his and "TRIGGER:-PT15M" not in his
    for login, path in (("anna", "anna/meetings/"), ("carla", "carla/meetings/"), ("anna", "fjord/bookings/")):
        other = unfold(live.dav(login).get(path + name).text)
        assert "X-MOZ" not in other and "PT5M" not in other, f"{path}: {other}"
    assert "PARTSTAT=ACCEPTED" in [line for line in unfold(live.dav("anna").get(f"anna/meetings/{name}").text)
                                   .splitlines() if "bjorn@example.com" in line][0]

    # the organizer changes the meeting: his own data stays on his copy
    services.modify(live.engine, f.id, retitle("Planning (moved)"))  # type: ignore[arg-type]
    his = unfold(live.dav("bjorn").get(f"bjorn/meetings/{name}").text)
    assert "SUMMARY:Planning (moved)" in his
    assert "X-MOZ-LASTACK:20260301T080000Z" in his and "TRIGGER:-PT5M" in his


def test_an_invitee_declines_by_put(live: LiveServer) -> None:
    uid, name = _meeting(live)
    mine = live.dav("carla").get(f"carla/meetings/{name}")
    put = live.dav("carla").put(f"carla/meetings/{name}", _reply(mine.text, "carla@example.com", "DECLINED"))
    assert put.status_code in (200, 204), put.text
    assert "ETag" not in put.headers
    assert live.dav("carla").get(f"carla/meetings/{name}").status_code == 404
    assert name not in "".join(live.dav("carla").etags("carla/meetings/"))
    [f] = followups_by_uid(live.engine, uid)
    [carla] = [p for p in f.participants if p.user_id == user(live.engine, "carla").id]
    assert carla.partstat is PartStat.DECLINED
    organizer = unfold(live.dav("anna").get(f"anna/meetings/{name}").text)
    assert [line for line in organizer.splitlines() if "carla@example.com" in line][0].count("PARTSTAT=DECLINED")


def test_an_invitee_replies_tentative(live: LiveServer) -> None:
    uid, name = _meeting(live)
    mine = live.dav("bjorn").get(f"bjorn/meetings/{name}")
    put = live.dav("bjorn").put(f"bjorn/meetings/{name}", _reply(mine.text, "bjorn@example.com", "TENTATIVE"))
    assert put.status_code in (200, 204), put.text
    [f] = followups_by_uid(live.engine, uid)
    assert {p.partstat for p in f.participants if p.user_id == user(live.engine, "bjorn").id} == {PartStat.TENTATIVE}
