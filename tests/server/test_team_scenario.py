"""The CRM's own scenario, end to end (the team issue's acceptance): a
meeting with two colleagues and a room, accepted by one from his client (his
own alarm kept), declined by the other by deleting it, moved by the
organizer in the CLI, clashing with another booking of the room, and a
private meeting in the same room; after each step every calendar, the
room's bookings, free/busy and `followups show --json` are checked.

The invitees use the `caldav` library, the organizer the command line, all
against one real server, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import requests
from caldav import DAVClient
from icalendar import Alarm

from server.services import followups as services
from store.domain import User
from tests.cli.clirun import Result, run_cli
from tests.server.caldav_support import PASSWORD, XMLNS, LiveServer, unfold

DAY = "20261201"


class Team:
    def __init__(self, live: LiveServer) -> None:
        self.live = live
        self.clients: dict[str, DAVClient] = {}

    def cli(self, *args: str) -> Result:
        result = run_cli(self.live.database, *args)
        assert result.code == 0, result.err
        return result

    def show(self, id: int) -> dict[str, Any]:
        return self.cli("show", str(id), "--json").json()  # type: ignore[no-any-return]

    def partstats(self, id: int) -> dict[str, str]:
        return {p["user"]: p["partstat"] for p in self.show(id)["participants"] if p["user"]}

    def calendar(self, login: str, path: str) -> Any:
        if login not in self.clients:
            self.clients[login] = DAVClient(url=self.live.url, username=login, password=PASSWORD)
        return self.clients[login].calendar(url=self.live.url + path)

    def texts(self, login: str, path: str) -> list[str]:
        """Every object of a calendar as ``login``'s client reads it (unfolded)."""
        return [unfold(o.data) for o in self.calendar(login, path).objects(load_objects=True)]

    def busy(self, viewer: str, path: str) -> list[str]:
        body = (f'<?xml version="1.0" encoding="utf-8"?><C:free-busy-query{XMLNS}>'
                f'<C:time-range start="{DAY}T000000Z" end="20261202T000000Z"/></C:free-busy-query>')
        r = requests.request("REPORT", self.live.url + path, data=body, auth=(viewer, PASSWORD),
                             headers={"Depth": "1", "Content-Type": "application/xml"}, timeout=30)
        assert r.status_code == 200, r.text
        return [line.split(":", 1)[1] + " " + line.split("FBTYPE=")[1].split(":")[0]
                for line in unfold(r.text).splitlines() if line.startswith("FREEBUSY")]

    def close(self) -> None:
        for client in self.clients.values():
            client.close()


@pytest.fixture
def team(live: LiveServer) -> Iterator[Team]:
    services.add_user(live.engine, User("carla", "Carla Eik", "carla@example.com", tz="Europe/Oslo"), PASSWORD)
    t = Team(live)
    try:
        yield t
    finally:
        t.close()


def _line(text: str, prefix: str, needle: str = "") -> str:
    found = [line for line in text.splitlines() if line.startswith(prefix) and needle in line]
    assert len(found) == 1, (prefix, needle, text)
    return found[0]


def test_the_crm_scenario(team: Team) -> None:
    # 1. anna (Europe/Oslo) invites bjorn and carla to a meeting in room fjord, 10:00-11:00 (09:00Z)
    created = team.cli("add", "meeting", "--owner", "anna", "--title", "Kickoff Nordlys", "--start",
                       "2026-12-01T10:00", "--participant", "bjorn", "--participant", "carla",
                       "--resource", "fjord", "--alarm", "15", "--agenda", "the plan", "--json").json()
    id, uid = created["id"], created["uid"]
    assert team.partstats(id) == {"bjorn": "NEEDS-ACTION", "carla": "NEEDS-ACTION"}
    [organizer] = team.texts("anna", "anna/meetings/")
    assert "TRIGGER:-PT15M" in organizer and "SCHEDULE-STATUS=1.2" in organizer
    for login in ("bjorn", "carla"):
        [copy] = team.texts(login, f"{login}/meetings/")
        assert f"UID:{uid}" in copy and "VALARM" not in copy and "SCHEDULE-STATUS" not in copy
        assert "PARTSTAT=NEEDS-ACTION" in _line(copy, "ATTENDEE", f"{login}@example.com")
    [booking] = team.texts("bjorn", "fjord/bookings/")
    assert "SUMMARY:Kickoff Nordlys" in booking and "VALARM" not in booking
    assert team.busy("carla", "anna/meetings/") == [f"{DAY}T090000Z/{DAY}T100000Z BUSY"]
    assert team.busy("anna", "bjorn/meetings/") == [f"{DAY}T090000Z/{DAY}T100000Z BUSY-TENTATIVE"]
    assert team.busy("anna", "fjord/bookings/") == [f"{DAY}T090000Z/{DAY}T100000Z BUSY"]

    # 2. bjorn accepts from his client, with an alarm of his own
    event = team.calendar("bjorn", "bjorn/meetings/").get_event_by_uid(uid)
    with event.edit_icalendar_component() as comp:
        for attendee in comp["ATTENDEE"]:
            if "bjorn@" in str(attendee):
                attendee.params["PARTSTAT"] = "ACCEPTED"
        alarm = Alarm()
        alarm.add("ACTION", "DISPLAY")
        alarm.add("DESCRIPTION", "Kickoff soon")
        alarm.add("TRIGGER", timedelta(minutes=-5))
        comp.add_component(alarm)
    event.save()
    assert team.partstats(id) == {"bjorn": "ACCEPTED", "carla": "NEEDS-ACTION"}
    [his] = team.texts("bjorn", "bjorn/meetings/")
    assert "TRIGGER:-PT5M" in his and "PT15M" not in his
    [organizer] = team.texts("anna", "anna/meetings/")
    assert "PARTSTAT=ACCEPTED" in _line(organizer, "ATTENDEE", "bjorn@") and "PT5M" not in organizer
    [hers] = team.texts("carla", "carla/meetings/")
    assert "VALARM" not in hers and "PARTSTAT=ACCEPTED" in _line(hers, "ATTENDEE", "bjorn@")
    assert "VALARM" not in team.texts("carla", "fjord/bookings/")[0]
    assert team.busy("anna", "bjorn/meetings/") == [f"{DAY}T090000Z/{DAY}T100000Z BUSY"]

    # 3. carla declines by deleting it in her client
    team.calendar("carla", "carla/meetings/").get_event_by_uid(uid).delete()
    assert team.partstats(id) == {"bjorn": "ACCEPTED", "carla": "DECLINED"}
    assert team.texts("carla", "carla/meetings/") == []
    [organizer] = team.texts("anna", "anna/meetings/")
    assert "PARTSTAT=DECLINED" in _line(organizer, "ATTENDEE", "carla@")
    assert team.busy("anna", "carla/meetings/") == []
    assert team.busy("anna", "fjord/bookings/") == [f"{DAY}T090000Z/{DAY}T100000Z BUSY"]

    # 4. anna moves it to 14:00 in the CLI: attendees are asked again, bjorn keeps his alarm
    team.cli("update", str(id), "--start", "2026-12-01T14:00")
    shown = team.show(id)
    assert shown["start"].startswith("2026-12-01T14:00") and shown["sequence"] == 1
    assert team.partstats(id) == {"bjorn": "NEEDS-ACTION", "carla": "DECLINED"}
    [his] = team.texts("bjorn", "bjorn/meetings/")
    assert "DTSTART;TZID=Europe/Oslo:20261201T140000" in his and "TRIGGER:-PT5M" in his
    assert "SEQUENCE:1" in his
    assert team.texts("carla", "carla/meetings/") == []
    assert team.busy("carla", "anna/meetings/") == [f"{DAY}T130000Z/{DAY}T140000Z BUSY"]
    assert team.busy("anna", "fjord/bookings/") == [f"{DAY}T130000Z/{DAY}T140000Z BUSY"]

    # 5. bjorn books the room at 14:30: a clash, reported on both sides
    other = run_cli(team.live.database, "add", "meeting", "--owner", "bjorn", "--title", "Other booking",
                    "--start", "2026-12-01T14:30", "--resource", "fjord", "--json")
    assert other.code == 0, other.err
    assert "warning" in other.err and f"#{id}" in other.err
    other_id = other.json()["id"]
    # they share the room, and bjorn (invited to the first, owner of the second)
    clashes = team.show(id)["conflicts"]
    assert sorted((c["id"], c["user"] or c["resource"]) for c in clashes) == [(other_id, "bjorn"),
                                                                               (other_id, "fjord")]
    assert sorted((c["id"], c["user"] or c["resource"]) for c in team.show(other_id)["conflicts"]) == [
        (id, "bjorn"), (id, "fjord")]
    listed = team.cli("conflicts", "fjord", "--from", "2026-12-01", "--to", "2026-12-01", "--json").json()
    assert [sorted(f["id"] for f in c["followups"]) for c in listed] == [sorted([id, other_id])]
    assert len(team.texts("anna", "fjord/bookings/")) == 2  # the room's policy is "allow": both stay
    assert team.busy("anna", "fjord/bookings/") == [f"{DAY}T130000Z/{DAY}T143000Z BUSY"]

    # 6. carla's private meeting in the same room, 08:00 Oslo
    private = team.cli("add", "meeting", "--owner", "carla", "--title", "Salary talk", "--agenda",
                       "raise for Ola", "--start", "2026-12-01T08:00", "--resource", "fjord", "--private",
                       "--json").json()
    bookings = team.texts("bjorn", "fjord/bookings/")
    [block] = [t for t in bookings if private["uid"] in t]
    assert "SUMMARY:Private" in block and "Salary" not in block and "Ola" not in block
    assert "Salary" not in "".join(bookings)
    [own] = team.texts("carla", "carla/meetings/")
    assert "SUMMARY:Salary talk" in own
    assert team.busy("bjorn", "fjord/bookings/") == [f"{DAY}T070000Z/{DAY}T080000Z BUSY",
                                                     f"{DAY}T130000Z/{DAY}T143000Z BUSY"]
    assert team.busy("bjorn", "carla/meetings/") == [f"{DAY}T070000Z/{DAY}T080000Z BUSY"]
    assert team.show(private["id"])["private"] is True
