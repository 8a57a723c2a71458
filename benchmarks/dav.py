"""The CalDAV requests the benchmark times, over real HTTP, one connection each.

Both servers are HTTP/1.0 (wsgiref), so each request opens and closes its own
connection; the time is from connecting to the last byte of the body. Every
answer is parsed and returned, so the caller can check it.
"""

from __future__ import annotations

import base64
import http.client
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import unquote
from xml.etree import ElementTree as ET

DAV = "{DAV:}"
CALDAV = "{urn:ietf:params:xml:ns:caldav}"
CS = "{http://calendarserver.org/ns/}"
MULTIGET_BATCH = 100

XML_HEAD = '<?xml version="1.0" encoding="utf-8"?>\n'
PROPFIND_ETAG = XML_HEAD + '<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/></D:prop></D:propfind>'
PROPFIND_CTAG = (XML_HEAD + '<D:propfind xmlns:D="DAV:" xmlns:CS="http://calendarserver.org/ns/">'
                 '<D:prop><CS:getctag/></D:prop></D:propfind>')


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    seconds: float
    etag: str = ""


@dataclass(frozen=True)
class Client:
    port: int
    login: str
    password: str
    host: str = "127.0.0.1"

    def request(self, method: str, path: str, body: str | None = None, headers: dict[str, str] | None = None,
                timeout: float = 900.0) -> Answer:
        token = base64.b64encode(f"{self.login}:{self.password}".encode()).decode()
        sent = {"Authorization": f"Basic {token}", "Connection": "close", **(headers or {})}
        data = body.encode("utf-8") if body is not None else None
        if data is not None:
            sent.setdefault("Content-Type", "application/xml; charset=utf-8")
        started = time.perf_counter()
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            conn.request(method, path, body=data, headers=sent)
            response = conn.getresponse()
            payload = response.read()
        finally:
            conn.close()
        return Answer(response.status, payload, time.perf_counter() - started, response.getheader("ETag") or "")


def name_of(href: str) -> str:
    """The member name (last path segment) of an href."""
    return unquote(href.rstrip("/").rsplit("/", 1)[-1])


@dataclass
class Multistatus:
    ok: dict[str, ET.Element]
    """Member name -> its 200 propstat's <prop>; the collection itself left out."""
    missing: set[str]
    """Members answered with 404 (removed, for sync-collection; unknown, for multiget)."""
    token: str


def parse_multistatus(body: bytes, collection: str) -> Multistatus:
    root = ET.fromstring(body)
    ok: dict[str, ET.Element] = {}
    missing: set[str] = set()
    for response in root.iter(f"{DAV}response"):
        href = response.findtext(f"{DAV}href") or ""
        if href.rstrip("/") == collection.rstrip("/"):
            continue
        status = response.findtext(f"{DAV}status")
        if status is not None and " 404" in status:
            missing.add(name_of(href))
            continue
        for propstat in response.iter(f"{DAV}propstat"):
            prop = propstat.find(f"{DAV}prop")
            if " 200" in (propstat.findtext(f"{DAV}status") or "") and prop is not None:
                ok[name_of(href)] = prop
        if name_of(href) not in ok:
            missing.add(name_of(href))
    return Multistatus(ok, missing, root.findtext(f"{DAV}sync-token") or "")


class WrongAnswer(Exception):
    """A server answered with an unexpected status or body."""


def _expect(answer: Answer, what: str, *statuses: int) -> Answer:
    if answer.status not in statuses:
        raise WrongAnswer(f"{what}: HTTP {answer.status}, expected {' or '.join(map(str, statuses))}: "
                          f"{answer.body[:300]!r}")
    return answer


# -- the requests ---------------------------------------------------------------------------


def propfind_etags(c: Client, coll: str) -> tuple[float, set[str]]:
    a = _expect(c.request("PROPFIND", coll, PROPFIND_ETAG, {"Depth": "1"}), "PROPFIND depth 1", 207)
    ms = parse_multistatus(a.body, coll)
    if any(p.find(f"{DAV}getetag") is None for p in ms.ok.values()):
        raise WrongAnswer("PROPFIND depth 1: a member without getetag")
    return a.seconds, set(ms.ok)


def getctag(c: Client, coll: str) -> tuple[float, str]:
    a = _expect(c.request("PROPFIND", coll, PROPFIND_CTAG, {"Depth": "0"}), "getctag", 207)
    ctag = ET.fromstring(a.body).findtext(f".//{CS}getctag") or ""
    if not ctag:
        raise WrongAnswer("getctag: no CS:getctag in the answer")
    return a.seconds, ctag


def sync_collection(c: Client, coll: str, token: str) -> tuple[float, str, set[str], set[str]]:
    """(seconds, new token, changed members, removed members) (RFC 6578)."""
    body = (XML_HEAD + '<D:sync-collection xmlns:D="DAV:">'
            f"<D:sync-token>{token}</D:sync-token><D:sync-level>1</D:sync-level>"
            "<D:prop><D:getetag/></D:prop></D:sync-collection>")
    a = _expect(c.request("REPORT", coll, body, {"Depth": "0"}), "sync-collection", 207)
    ms = parse_multistatus(a.body, coll)
    if not ms.token:
        raise WrongAnswer("sync-collection: no DAV:sync-token in the answer")
    return a.seconds, ms.token, set(ms.ok), ms.missing


def multiget(c: Client, coll: str, names: Iterable[str]) -> tuple[float, dict[str, str]]:
    hrefs = "".join(f"<D:href>{coll}{n}</D:href>" for n in names)
    body = (XML_HEAD + '<C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
            f"<D:prop><D:getetag/><C:calendar-data/></D:prop>{hrefs}</C:calendar-multiget>")
    a = _expect(c.request("REPORT", coll, body, {"Depth": "1"}), "calendar-multiget", 207)
    ms = parse_multistatus(a.body, coll)
    return a.seconds, {n: p.findtext(f"{CALDAV}calendar-data") or "" for n, p in ms.ok.items()}


def initial_sync(c: Client, coll: str) -> tuple[float, str, dict[str, str]]:
    """What a client does first: sync-collection from no token, then the data
    in calendar-multiget batches of 100 hrefs."""
    seconds, token, changed, removed = sync_collection(c, coll, "")
    if removed:
        raise WrongAnswer(f"initial sync: {len(removed)} members reported as removed")
    names = sorted(changed)
    data: dict[str, str] = {}
    for first in range(0, len(names), MULTIGET_BATCH):
        more, got = multiget(c, coll, names[first:first + MULTIGET_BATCH])
        seconds += more
        data.update(got)
    return seconds, token, data


def calendar_query(c: Client, coll: str, component: str, start: datetime, end: datetime) -> tuple[float, set[str]]:
    fmt = "%Y%m%dT%H%M%SZ"
    body = (XML_HEAD + '<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
            "<D:prop><D:getetag/></D:prop><C:filter><C:comp-filter name=\"VCALENDAR\">"
            f'<C:comp-filter name="{component}"><C:time-range start="{start.strftime(fmt)}" '
            f'end="{end.strftime(fmt)}"/></C:comp-filter></C:comp-filter></C:filter></C:calendar-query>')
    a = _expect(c.request("REPORT", coll, body, {"Depth": "1"}), f"calendar-query {component}", 207)
    return a.seconds, set(parse_multistatus(a.body, coll).ok)


def put(c: Client, path: str, text: str, new: bool) -> float:
    headers = {"Content-Type": "text/calendar; charset=utf-8"}
    if new:
        headers["If-None-Match"] = "*"
        return _expect(c.request("PUT", path, text, headers), "PUT of a new object", 201).seconds
    return _expect(c.request("PUT", path, text, headers), "PUT of a change", 200, 201, 204).seconds


def get_collection(c: Client, coll: str) -> tuple[float, set[str]]:
    """GET of the whole calendar (one .ics): the UIDs it holds."""
    a = _expect(c.request("GET", coll), "GET of the collection", 200)
    text = a.body.decode("utf-8").replace("\r\n ", "").replace("\n ", "")
    if "BEGIN:VCALENDAR" not in text:
        raise WrongAnswer("GET of the collection: not an iCalendar body")
    uids = {line[4:].strip() for line in text.splitlines() if line.startswith("UID:")}
    return a.seconds, uids


def get_object(c: Client, path: str) -> tuple[str, str]:
    """GET of one object: (its ETag, its text)."""
    a = _expect(c.request("GET", path), "GET of an object", 200)
    if not a.etag:
        raise WrongAnswer(f"GET {path}: no ETag")
    return a.etag, a.body.decode("utf-8")


def put_changed(c: Client, path: str, text: str, etag: str) -> float:
    """PUT of a changed object as a client sends it: If-Match the ETag it has (RFC 9110 13.1.1)."""
    headers = {"Content-Type": "text/calendar; charset=utf-8", "If-Match": etag}
    return _expect(c.request("PUT", path, text, headers), "PUT of a changed object", 204).seconds


def delete(c: Client, path: str, etag: str) -> float:
    """DELETE of one object with If-Match; a later GET must answer 404."""
    seconds = _expect(c.request("DELETE", path, headers={"If-Match": etag}), "DELETE", 200, 204).seconds
    _expect(c.request("GET", path), "GET after DELETE", 404)
    return seconds
