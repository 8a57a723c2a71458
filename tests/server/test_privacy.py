"""Private stays private: a private follow-up is shown in full only to its
owner and participants, in their own calendars; every other read gets a busy
block with the same times and no words of its own (mapping spec, "Privacy").

Regression: a private meeting that booked a room showed SUMMARY, DESCRIPTION,
LOCATION and the company CONTACT in /<room>/bookings/ to any logged-in user.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from server.services.transaction import transaction
from store.domain import Company, Participant, PartStat
from tests.server.caldav_support import (
    XMLNS,
    LiveServer,
    crm_meeting,
    responses,
    sync_token,
    unfold,
    user,
)

SECRETS = ("Takeover", "acquisition", "Nordlys", "boardroom", "confidential agenda")
CALDATA = "{urn:ietf:params:xml:ns:caldav}calendar-data"


@pytest.fixture
def private_meeting(live: LiveServer) -> str:
    """anna's private meeting with bjorn in room fjord, full of words nobody else may read."""
    with transaction(live.engine) as uow:
        company = uow.companies.add(Company("Nordlys AS"))
        room = uow.resources.by_login("fjord")
        uow.commit()
    bjorn = user(live.engine, "bjorn")
    f = crm_meeting(live.engine, "anna", "Takeover talks", start=datetime(2026, 3, 3, 10, 0, tzinfo=UTC),
                    agenda="the acquisition, confidential agenda", location="boardroom", private=True,
                    company_id=company.id, resource_ids=[room.id], alarm_minutes=15,
                    participants=[Participant(user_id=bjorn.id, partstat=PartStat.ACCEPTED)])
    return f.uid


def _no_secret(text: str) -> None:
    for word in SECRETS:
        assert word.lower() not in text.lower(), f"{word!r} leaked: {text}"


def _busy_block(text: str, uid: str) -> None:
    text = unfold(text)
    _no_secret(text)
    assert f"UID:{uid}" in text
    assert "SUMMARY:Private" in text and "CLASS:PRIVATE" in text
    assert "DTSTART" in text and "DTEND" in text
    for name in ("ORGANIZER", "ATTENDEE", "CONTACT", "X-CRM", "BEGIN:VALARM", "DESCRIPTION", "LOCATION"):
        assert name not in text, f"{name} in a busy block: {text}"


def test_every_read_of_the_bookings_shows_a_busy_block(live: LiveServer, private_meeting: str) -> None:
    uid = private_meeting
    for viewer in ("bjorn", "anna"):  # the bookings are "everywhere else", even for the organizer
        dav = live.dav(viewer)
        path = "fjord/bookings/"
        listing = dav.propfind(path, "<D:getetag/><D:displayname/><C:supported-calendar-component-set/>", "1")
        assert listing.status_code == 207
        _no_secret(listing.text)
        [href] = [r.href for r in responses(listing) if r.href.endswith(".ics")]
        name = href.rsplit("/", 1)[1]

        got = dav.get(path + name)
        assert got.status_code == 200
        _busy_block(got.text, uid)
        assert got.headers["ETag"] == dav.etags(path)[href], "the ETag is the busy block's"

        multiget = dav.multiget(path, [href])
        [entry] = responses(multiget)
        _busy_block(entry.props[CALDATA], uid)

        query = dav.report(path, f"<C:calendar-query{XMLNS}><D:prop><D:getetag/><C:calendar-data/></D:prop>"
                                 '<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">'
                                 '<C:time-range start="20260303T000000Z" end="20260304T000000Z"/>'
                                 "</C:comp-filter></C:comp-filter></C:filter></C:calendar-query>")
        [found] = responses(query)
        _busy_block(found.props[CALDATA], uid)

        for word in ("Takeover", "boardroom"):  # a text-match must not find hidden words either
            search = dav.report(path, f"<C:calendar-query{XMLNS}><D:prop><D:getetag/></D:prop>"
                                      '<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">'
                                      f'<C:prop-filter name="SUMMARY"><C:text-match>{word}</C:text-match>'
                                      "</C:prop-filter></C:comp-filter></C:comp-filter></C:filter>"
                                      "</C:calendar-query>")
            assert search.status_code == 207 and responses(search) == [], search.text

        synced = dav.sync(path, "", "<D:getetag/><C:calendar-data/>")
        assert sync_token(synced)
        [entry] = [r for r in responses(synced) if r.href == href]
        _busy_block(entry.props[CALDATA], uid)

        whole = dav.get(path)
        assert whole.status_code == 200
        _busy_block(whole.text, uid)


def test_owner_and_participant_see_it_in_full_in_their_own_calendars(live: LiveServer, private_meeting: str) -> None:
    for login in ("anna", "bjorn"):
        text = unfold(live.dav(login).get(f"{login}/meetings/").text)
        assert "SUMMARY:Takeover talks" in text and "LOCATION:boardroom" in text
        assert "CLASS:PRIVATE" in text


def test_a_public_meeting_in_the_bookings_is_shown_in_full(live: LiveServer) -> None:
    with transaction(live.engine) as uow:
        room = uow.resources.by_login("fjord")
    crm_meeting(live.engine, "anna", "Open day", resource_ids=[room.id])
    text = unfold(live.dav("bjorn").get("fjord/bookings/").text)
    assert "SUMMARY:Open day" in text and "ORGANIZER" in text


def test_making_a_meeting_private_masks_it_on_the_next_sync(live: LiveServer) -> None:
    with transaction(live.engine) as uow:
        room = uow.resources.by_login("fjord")
    f = crm_meeting(live.engine, "anna", "Takeover talks", resource_ids=[room.id])
    dav = live.dav("bjorn")
    token = sync_token(dav.sync("fjord/bookings/"))
    from server.services import followups as services

    def make_private(g, _uow):  # type: ignore[no-untyped-def]
        g.private = True

    services.modify(live.engine, f.id, make_private)  # type: ignore[arg-type]
    changed = dav.sync("fjord/bookings/", token, "<D:getetag/><C:calendar-data/>")
    [entry] = responses(changed)
    _busy_block(entry.props[CALDATA], f.uid)
