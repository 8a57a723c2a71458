"""No data crosses between users: anna probes every method on every path of
bjorn's (and of a room's bookings), with traversal and percent-encoded
variants, and learns nothing of his.

bjorn has a public meeting, a private one that books room fjord, a to-do, a
call, an object his client PUT under a name of its own, and a meeting he
invited anna to; nobody holds a grant. Each probe's answer
(status line, headers, body) must hold no word of his follow-ups (SUMMARY,
DESCRIPTION, LOCATION), no href, UID or ETag of his objects (unless anna
sent it herself), and no 5xx; an object that exists answers exactly as a
made-up name does; and after all the probes the store is byte for byte what
it was. What anna may see is listed in :func:`allowed` with the rule of the
mapping spec that allows it.
"""

from __future__ import annotations

import base64
import http.client
from dataclasses import dataclass
from datetime import UTC, datetime

from server.services.transaction import transaction
from store.domain import Participant, PartStat
from tests.server.caldav_support import (
    PASSWORD,
    XMLNS,
    LiveServer,
    crm_call,
    crm_meeting,
    crm_todo,
    dump,
    ical,
    user,
    vevent,
    vtodo,
)

SECRETS = ("Harbour crane", "ballast pricing", "Pier Nine", "Divorce lawyer", "custody papers", "Hotel Bristol",
           "Renegotiate Vestfold", "rebate ladder", "Call the auditor", "Lighthouse survey", "keeper cottage")
INVITATION = ("Quarterly kickoff", "budget slides")
"""Words of bjorn's meeting with anna: she reads them in her own copy (in her
own calendar, which no probe asks for), never through a path of his."""


@dataclass
class Bjorn:
    objects: dict[str, str]
    """href -> ETag of every object in bjorn's calendars (as bjorn lists them)."""
    uids: dict[str, str]
    """href -> UID, for the objects whose UID anna may never learn."""
    private_uid: str
    invitation_uid: str
    public_href: str
    private_href: str
    invitation_href: str
    todo_href: str
    anna_own: str


@dataclass
class Probe:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Answer:
    status: int
    text: str
    """Status line, headers and body, as one text to search."""


def _request(live: LiveServer, probe: Probe, login: str = "anna") -> Answer:
    """Send the path exactly as written (no client-side dot-segment removal)."""
    conn = http.client.HTTPConnection("127.0.0.1", live.port, timeout=30)
    token = base64.b64encode(f"{login}:{PASSWORD}".encode()).decode()
    try:
        conn.putrequest(probe.method, probe.path, skip_accept_encoding=True)
        for name, value in {"Authorization": f"Basic {token}", "Content-Length": str(len(probe.body)),
                            **probe.headers}.items():
            conn.putheader(name, value)
        conn.endheaders(probe.body)
        r = conn.getresponse()
        body = r.read()
        head = f"{r.status} {r.reason}\n" + "\n".join(f"{k}: {v}" for k, v in r.getheaders())
        return Answer(r.status, head + "\n\n" + body.decode("utf-8", "replace"))
    finally:
        conn.close()


def _setup(live: LiveServer) -> Bjorn:
    anna = user(live.engine, "anna")
    with transaction(live.engine) as uow:
        room = uow.resources.by_login("fjord")
        uow.commit()
    public = crm_meeting(live.engine, "bjorn", "Harbour crane tender", agenda="ballast pricing",
                         location="Pier Nine")
    private = crm_meeting(live.engine, "bjorn", "Divorce lawyer", start=datetime(2026, 3, 4, 13, 0, tzinfo=UTC),
                          agenda="custody papers", location="Hotel Bristol", private=True, resource_ids=[room.id])
    todo = crm_todo(live.engine, "bjorn", "Renegotiate Vestfold", agenda="rebate ladder")
    call = crm_call(live.engine, "bjorn", "Call the auditor")
    invitation = crm_meeting(live.engine, "bjorn", "Quarterly kickoff", agenda="budget slides",
                             participants=[Participant(user_id=anna.id, partstat=PartStat.NEEDS_ACTION)])
    dav = live.dav("bjorn")
    assert dav.put("bjorn/meetings/lighthouse.ics", vevent("lighthouse-uid", "Lighthouse survey",
                                                           extra=("LOCATION:keeper cottage",))).status_code == 201
    assert live.dav("anna").put("anna/meetings/own.ics", vevent("anna-own", "Anna's own")).status_code == 201
    objects = {}
    for collection in ("bjorn/meetings/", "bjorn/tasks/"):
        objects.update({href: etag for href, etag in dav.etags(collection).items()})
    assert len(objects) == 6, objects
    uids = {href: href.rsplit("/", 1)[1].removesuffix(".ics") for href in objects}
    uids["/bjorn/meetings/lighthouse.ics"] = "lighthouse-uid"
    for href in [h for h in uids if invitation.uid in h or private.uid in h]:
        del uids[href]  # anna holds her own copy of the invitation; the private UID shows in the bookings
    assert call.uid in "".join(objects)
    return Bjorn(objects, uids, private.uid, invitation.uid, f"/bjorn/meetings/{public.uid}.ics",
                 f"/bjorn/meetings/{private.uid}.ics", f"/bjorn/meetings/{invitation.uid}.ics",
                 f"/bjorn/tasks/{todo.uid}.ics", "/anna/meetings/own.ics")


def paths(b: Bjorn) -> list[str]:
    """bjorn's principal and collections, the room's bookings, his objects (public,
    private, the invitation, a to-do), made-up names, and other spellings of them."""
    public = b.public_href.rsplit("/", 1)[1]
    objects = [b.public_href, b.private_href, b.invitation_href, b.todo_href]
    return [
        "/bjorn/", "/bjorn/meetings/", "/bjorn/tasks/", "/bjorn/inbox/", "/bjorn/outbox/", "/fjord/bookings/",
        *objects, "/bjorn/meetings/made-up.ics", "/bjorn/tasks/made-up.ics", "/bjorn/new-calendar/",
        # traversal from anna's own home, and percent-encoded spellings
        "/anna/../bjorn/meetings/", f"/anna/meetings/../../bjorn/meetings/{public}", "/anna/%2e%2e/bjorn/tasks/",
        "/anna%2f..%2fbjorn/meetings/", "//%62jorn//meetings//",
    ]


def methods(b: Bjorn, path: str, origin: str) -> list[Probe]:
    """Every method (and REPORT and PROPFIND variant) on ``path``."""
    xml = {"Content-Type": "application/xml; charset=utf-8"}
    props = "<D:getetag/><D:displayname/><C:calendar-data/><D:sync-token/><CS:getctag/><D:current-user-principal/>"

    def x(text: str) -> bytes:
        return ('<?xml version="1.0" encoding="utf-8"?>' + text).encode()

    item = path if path.endswith(".ics") else path.rstrip("/") + "/planted.ics"
    body = (vtodo("planted-todo", "planted") if "tasks" in path else vevent("planted-event", "planted")).encode()
    hrefs = "".join(f"<D:href>{h}</D:href>" for h in b.objects)
    freebusy = ical("METHOD:REQUEST", "BEGIN:VFREEBUSY", "UID:probe-fb", "DTSTAMP:20260101T000000Z",
                    "DTSTART:20260301T000000Z", "DTEND:20260331T000000Z", "ORGANIZER:mailto:bjorn@example.com",
                    "ATTENDEE:mailto:bjorn@example.com", "END:VFREEBUSY").encode()
    return [
        Probe("GET", path, {}, b""),
        Probe("HEAD", path, {}, b""),
        Probe("OPTIONS", path, {}, b""),
        Probe("PUT", item, {"Content-Type": "text/calendar; charset=utf-8"}, body),
        Probe("DELETE", path, {}, b""),
        *(Probe("PROPFIND", path, {**xml, "Depth": depth}, x(f"<D:propfind{XMLNS}><D:prop>{props}</D:prop>"
                                                             "</D:propfind>")) for depth in ("0", "1", "infinity")),
        Probe("PROPPATCH", path, xml, x(f"<D:propertyupdate{XMLNS}><D:set><D:prop><D:displayname>pwned"
                                        "</D:displayname></D:prop></D:set></D:propertyupdate>")),
        Probe("REPORT", path, {**xml, "Depth": "1"}, x(
            f"<C:calendar-query{XMLNS}><D:prop>{props}</D:prop><C:filter><C:comp-filter name=\"VCALENDAR\"/>"
            "</C:filter></C:calendar-query>")),
        Probe("REPORT", path, {**xml, "Depth": "1"}, x(
            f"<C:calendar-multiget{XMLNS}><D:prop>{props}</D:prop>{hrefs}</C:calendar-multiget>")),
        Probe("REPORT", path, xml, x(f"<D:sync-collection{XMLNS}><D:sync-token/><D:sync-level>1</D:sync-level>"
                                     f"<D:prop>{props}</D:prop></D:sync-collection>")),
        Probe("REPORT", path, {**xml, "Depth": "1"}, x(
            f'<C:free-busy-query{XMLNS}><C:time-range start="20260301T000000Z" end="20260331T000000Z"/>'
            "</C:free-busy-query>")),
        Probe("MKCALENDAR", path, {}, b""),
        Probe("MKCOL", path, {}, b""),
        Probe("MOVE", path, {"Destination": origin + "/anna/meetings/stolen.ics", "Overwrite": "T"}, b""),
        Probe("COPY", path, {"Destination": origin + "/anna/meetings/stolen-copy.ics", "Overwrite": "T"}, b""),
        Probe("POST", path, {"Content-Type": "text/calendar; charset=utf-8"}, freebusy),
        Probe("LOCK", path, xml, x('<D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope>'
                                   "<D:locktype><D:write/></D:locktype></D:lockinfo>")),
        # anna's own object, copied and moved into bjorn's path
        Probe("COPY", b.anna_own, {"Destination": origin + item, "Overwrite": "T"}, b""),
        Probe("MOVE", b.anna_own, {"Destination": origin + item, "Overwrite": "T"}, b""),
    ]


def allowed(probe: Probe, answer: Answer) -> bool:
    """The successes anna is entitled to (mapping spec); every other probe must fail."""
    bookings = "/fjord/bookings/" in probe.path
    if probe.method == "OPTIONS":
        return True  # the server's capabilities, the same for every path
    if bookings and probe.method in {"GET", "HEAD", "PROPFIND", "REPORT"}:
        return True  # "bookings can be read by every logged-in user (private meetings masked)"
    if probe.method == "REPORT" and b"free-busy-query" in probe.body and answer.status == 200:
        return True  # "any logged-in user may run a free-busy-query on a colleague's meetings": busy periods only
    return False


def leaks(b: Bjorn, probe: Probe, answer: Answer) -> list[str]:
    """What of bjorn's the answer gives away (nothing anna sent herself)."""
    sent = probe.path + probe.body.decode("utf-8", "replace") + " ".join(probe.headers.values())
    text = answer.text
    found = [f"word {w!r}" for w in SECRETS if w.lower() in text.lower()]
    found += [f"invitation word {w!r}" for w in INVITATION if w.lower() in text.lower()]
    found += [f"href {h}" for h in b.objects if h in text and h not in sent]
    found += [f"uid {u}" for u in b.uids.values() if u in text and u not in sent]
    found += [f"etag {e}" for e in b.objects.values() if e.strip('"') in text]
    if b.private_uid in text and "/fjord/bookings/" not in probe.path and b.private_uid not in sent:
        found.append("the private meeting's UID outside the bookings")
    return found


def test_anna_gets_nothing_of_bjorn(live: LiveServer) -> None:
    b = _setup(live)
    for href in b.objects:  # the detector sees bjorn's data where bjorn reads it
        get = Probe("GET", href, {}, b"")
        assert leaks(b, get, _request(live, get, "bjorn")), href
    # allowed: anna reads her own copy of bjorn's invitation, in her own calendar
    copy = _request(live, Probe("GET", f"/anna/meetings/{b.invitation_uid}.ics", {}, b""))
    assert copy.status == 200 and INVITATION[0] in copy.text
    before = dump(live.engine)
    count = 0
    statuses: dict[str, list[int]] = {}
    failures: list[str] = []
    for path in paths(b):
        for probe in methods(b, path, live.url.rstrip("/")):
            answer = _request(live, probe)
            count += 1
            statuses.setdefault(path, []).append(answer.status)
            what = f"{probe.method} {probe.path} {probe.headers.get('Depth', '')} {probe.body[38:80]!r}"
            if answer.status >= 500:
                failures.append(f"{what}: {answer.status}")
            elif 200 <= answer.status < 300 and not allowed(probe, answer):
                failures.append(f"{what}: {answer.status}, allowed")
            found = leaks(b, probe, answer)
            if found:
                failures.append(f"{what}: {answer.status}, leaks {found}")
    for href in [h for h in statuses if h in b.objects]:  # an object answers as a made-up name does
        made_up = href.rsplit("/", 1)[0] + "/made-up.ics"
        if statuses[href] != statuses[made_up]:
            failures.append(f"{href} answers {statuses[href]}, a made-up name {statuses[made_up]}")
    print(f"{count} cross-user probes")
    assert not failures, "\n".join(failures)
    assert dump(live.engine) == before, "a probe changed the store"
    assert count >= 237
