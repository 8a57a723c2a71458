"""Helpers of the CalDAV server tests: a real server on 127.0.0.1 over a
fresh store, a small WebDAV client, iCalendar builders and store dumps."""

from __future__ import annotations

import dataclasses
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import unquote, urlsplit
from xml.etree import ElementTree as ET

import requests
from sqlalchemy import Engine, MetaData, select

from server import config
from server.dav.server import make_server
from server.services import followups as services
from store.domain import Followup, Kind, Resource, ResourceKind, User, new_call, new_meeting, new_todo
from store.uow import UnitOfWork
from tests.conftest import drop_schema, make_url

__all__ = ["drop_schema", "make_url"]

PASSWORD = "secret"
NS = {"D": "DAV:", "C": "urn:ietf:params:xml:ns:caldav", "CS": "http://calendarserver.org/ns/",
      "A": "http://apple.com/ns/ical/"}
D = "{DAV:}"
C = "{urn:ietf:params:xml:ns:caldav}"
CS = "{http://calendarserver.org/ns/}"
A = "{http://apple.com/ns/ical/}"
XMLNS = ' xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav" ' \
        'xmlns:CS="http://calendarserver.org/ns/" xmlns:A="http://apple.com/ns/ical/"'


@dataclass
class LiveServer:
    url: str
    engine: Engine
    database: str
    port: int = 0
    sessions: dict[str, Dav] = field(default_factory=dict)

    def auth(self, login: str = "anna") -> tuple[str, str]:
        return (login, PASSWORD)

    def dav(self, login: str = "anna") -> Dav:
        """An HTTP client logged in as ``login`` (one per login, kept alive)."""
        if login not in self.sessions:
            self.sessions[login] = Dav(self.url, login)
        return self.sessions[login]

    def close(self) -> None:
        for dav in self.sessions.values():
            dav.session.close()
        self.sessions.clear()


def start_server(db_url: str, **options: Any) -> tuple[LiveServer, threading.Thread, object]:
    """The server over ``db_url``; ``options`` replace the tests' settings (e.g. ``log_format="json"``)."""
    engine = services.open_store(db_url)
    settings = config.Settings(database=db_url, host="127.0.0.1", port=0, max_body=200_000,
                               log_level="error", auth_delay=0.0)
    settings = dataclasses.replace(settings, **options)
    httpd = make_server(settings)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    host, port = str(httpd.server_address[0]), int(httpd.server_address[1])
    return LiveServer(f"http://{host}:{port}/", engine, db_url, port), thread, httpd


def stop_server(server: LiveServer, thread: threading.Thread, httpd: object) -> None:
    server.close()
    httpd.shutdown()  # type: ignore[attr-defined]
    httpd.server_close()  # type: ignore[attr-defined]
    thread.join(5)


def add_people(engine: Engine) -> None:
    services.add_user(engine, User("anna", "Anna Berg", "anna@example.com", tz="Europe/Oslo"), PASSWORD)
    services.add_user(engine, User("bjorn", "Bjørn Dahl", "bjorn@example.com", tz="Europe/Oslo"), PASSWORD)
    services.add_resource(engine, Resource("fjord", "Room Fjord", ResourceKind.ROOM, "fjord@example.com"))


# -- HTTP -----------------------------------------------------------------------------


class Dav:
    """A thin WebDAV/CalDAV client over ``requests``: paths are relative to the root."""

    def __init__(self, base: str, login: str) -> None:
        self.base = base
        self.session = requests.Session()
        self.session.auth = (login, PASSWORD)

    def url(self, path: str) -> str:
        return self.base + path.lstrip("/")

    def request(self, method: str, path: str, body: str | bytes | None = None, **headers: str) -> requests.Response:
        hdrs = {k.replace("_", "-"): v for k, v in headers.items()}
        data = body.encode("utf-8") if isinstance(body, str) else body
        return self.session.request(method, self.url(path), data=data, headers=hdrs, allow_redirects=False,
                                    timeout=30)

    def get(self, path: str, **headers: str) -> requests.Response:
        return self.request("GET", path, **headers)

    def put(self, path: str, text: str | bytes, **headers: str) -> requests.Response:
        return self.request("PUT", path, text, Content_Type="text/calendar; charset=utf-8", **headers)

    def delete(self, path: str, **headers: str) -> requests.Response:
        return self.request("DELETE", path, **headers)

    def propfind(self, path: str, props: str, depth: str = "0") -> requests.Response:
        body = f'<?xml version="1.0" encoding="utf-8"?><D:propfind{XMLNS}><D:prop>{props}</D:prop></D:propfind>'
        return self.request("PROPFIND", path, body, Depth=depth, Content_Type="application/xml; charset=utf-8")

    def proppatch(self, path: str, props: str) -> requests.Response:
        body = (f'<?xml version="1.0" encoding="utf-8"?><D:propertyupdate{XMLNS}><D:set><D:prop>{props}'
                "</D:prop></D:set></D:propertyupdate>")
        return self.request("PROPPATCH", path, body, Content_Type="application/xml; charset=utf-8")

    def report(self, path: str, body: str, depth: str = "1") -> requests.Response:
        return self.request("REPORT", path, '<?xml version="1.0" encoding="utf-8"?>' + body, Depth=depth,
                            Content_Type="application/xml; charset=utf-8")

    # -- higher level ---------------------------------------------------------------
    def etags(self, collection: str) -> dict[str, str]:
        """href -> etag of every member, from a depth-1 PROPFIND."""
        r = self.propfind(collection, "<D:getetag/>", depth="1")
        assert r.status_code == 207, r.text
        found = {}
        for resp in responses(r):
            if resp.href.rstrip("/") != "/" + collection.strip("/"):
                found[resp.href] = resp.props["{DAV:}getetag"]
        return found

    def sync(self, collection: str, token: str = "", props: str = "<D:getetag/>") -> requests.Response:
        return self.report(collection, f"<D:sync-collection{XMLNS}><D:sync-token>{token}</D:sync-token>"
                                       f"<D:sync-level>1</D:sync-level><D:prop>{props}</D:prop>"
                                       "</D:sync-collection>")

    def multiget(self, collection: str, hrefs: list[str]) -> requests.Response:
        refs = "".join(f"<D:href>{h}</D:href>" for h in hrefs)
        return self.report(collection, f"<C:calendar-multiget{XMLNS}><D:prop><D:getetag/><C:calendar-data/>"
                                       f"</D:prop>{refs}</C:calendar-multiget>")

    def query(self, collection: str, component: str, start: str | None = None,
              end: str | None = None) -> requests.Response:
        rng = ""
        if start or end:
            rng = "<C:time-range" + (f' start="{start}"' if start else "") + (f' end="{end}"' if end else "") + "/>"
        return self.report(collection, f"<C:calendar-query{XMLNS}><D:prop><D:getetag/></D:prop><C:filter>"
                                       f'<C:comp-filter name="VCALENDAR"><C:comp-filter name="{component}">{rng}'
                                       "</C:comp-filter></C:comp-filter></C:filter></C:calendar-query>", depth="1")


def put_new(dav: Dav, path: str, text: str) -> str:
    """PUT a new object; its ETag (from a GET: the server may rewrite the body)."""
    r = dav.put(path, text, If_None_Match="*")
    assert r.status_code == 201, (r.status_code, r.text)
    g = dav.get(path)
    assert g.status_code == 200
    return g.headers["ETag"]


@dataclass
class DavResponse:
    href: str
    status: str | None
    props: dict[str, str]
    """Properties found (status 200): tag -> text (or inner XML for structured values)."""
    missing: list[str]
    elements: dict[str, ET.Element]


def responses(r: requests.Response) -> list[DavResponse]:
    """The DAV:response elements of a 207 Multi-Status."""
    root = ET.fromstring(r.content)
    found = []
    for resp in root.findall("D:response", NS):
        href = unquote(urlsplit(resp.findtext("D:href", "", NS)).path)
        status = resp.findtext("D:status", None, NS)
        props: dict[str, str] = {}
        missing: list[str] = []
        elements: dict[str, ET.Element] = {}
        for ps in resp.findall("D:propstat", NS):
            ok = " 200 " in (ps.findtext("D:status", "", NS) + " ")
            for prop in ps.findall("D:prop/*", NS):
                if ok:
                    props[prop.tag] = prop.text or ""
                    elements[prop.tag] = prop
                else:
                    missing.append(prop.tag)
        found.append(DavResponse(href, status, props, missing, elements))
    return found


def sync_changes(live: LiveServer, login: str, token: str, path: str | None = None) -> tuple[str, dict[str, str]]:
    """``login``'s client syncing a calendar (default: their ``meetings``) by token
    (RFC 6578), then a multiget of what changed: the new token and the changed
    objects' texts (unfolded), by href."""
    path = path or f"{login}/meetings/"
    r = live.dav(login).sync(path, token)
    assert r.status_code == 207, r.text
    hrefs = [x.href for x in responses(r) if x.status is None]
    texts: dict[str, str] = {}
    if hrefs:
        got = live.dav(login).multiget(path, hrefs)
        texts = {x.href: unfold(x.props[C + "calendar-data"]) for x in responses(got)}
    return sync_token(r), texts


def sync_token(r: requests.Response) -> str:
    token = ET.fromstring(r.content).findtext("D:sync-token", None, NS)
    assert token, r.text
    return token


# -- iCalendar ---------------------------------------------------------------------


def ical(*lines: str) -> str:
    return "\r\n".join(["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//followup-caldav tests//EN", *lines,
                        "END:VCALENDAR"]) + "\r\n"


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def vevent(uid: str | None = None, summary: str = "Meeting", start: datetime | None = None,
           minutes: int = 60, extra: tuple[str, ...] = ()) -> str:
    """A VEVENT object in UTC; ``start`` defaults to a fixed day in March 2026."""
    start = start or datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    uid = uid or str(uuid.uuid4())
    return ical("BEGIN:VEVENT", f"UID:{uid}", "DTSTAMP:20260101T000000Z", f"DTSTART:{stamp(start)}",
                f"DTEND:{stamp(start + timedelta(minutes=minutes))}", f"SUMMARY:{summary}", *extra, "END:VEVENT")


def vtodo(uid: str | None = None, summary: str = "Task", due: datetime | None = None,
          extra: tuple[str, ...] = ()) -> str:
    due = due or datetime(2026, 3, 5, 16, 0, tzinfo=UTC)
    uid = uid or str(uuid.uuid4())
    return ical("BEGIN:VTODO", f"UID:{uid}", "DTSTAMP:20260101T000000Z", f"DUE:{stamp(due)}",
                f"SUMMARY:{summary}", *extra, "END:VTODO")


def unfold(text: str) -> str:
    return text.replace("\r\n ", "").replace("\n ", "").replace("\r\n", "\n")


def prop_lines(text: str, name: str) -> list[str]:
    """The unfolded content lines of ``text`` named ``name``."""
    return [line for line in unfold(text).split("\n") if line.split(";", 1)[0].split(":", 1)[0] == name]


# -- the store ---------------------------------------------------------------------


def dump(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, sorted: equal dumps mean an unchanged store."""
    meta = MetaData()
    meta.reflect(bind=engine)
    out: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as conn:
        for name, table in sorted(meta.tables.items()):
            rows = conn.execute(select(table)).all()
            out[name] = sorted((tuple(r) for r in rows), key=repr)
    return out


def user(engine: Engine, login: str) -> User:
    with UnitOfWork(engine, write=False) as uow:
        return uow.users.by_login(login)


def type_id(engine: Engine, kind: Kind) -> int:
    with UnitOfWork(engine, write=False) as uow:
        found = uow.types.default(kind).id
    assert found is not None
    return found


def crm_meeting(engine: Engine, login: str = "anna", title: str = "CRM meeting",
                start: datetime | date | None = None, **fields: Any) -> Followup:
    """A meeting created on the CRM side (server.services.followups)."""
    owner = user(engine, login)
    start = start or datetime(2026, 3, 3, 10, 0, tzinfo=UTC)
    return services.create(engine, new_meeting(owner, title, type_id(engine, Kind.MEETING), start, **fields))


def crm_todo(engine: Engine, login: str = "anna", title: str = "CRM to-do",
             deadline: datetime | date | None = None, **fields: Any) -> Followup:
    owner = user(engine, login)
    deadline = deadline or datetime(2026, 3, 6, 12, 0, tzinfo=UTC)
    return services.create(engine, new_todo(owner, title, type_id(engine, Kind.TODO), deadline, **fields))


def crm_call(engine: Engine, login: str = "anna", title: str = "CRM call",
             deadline: datetime | date | None = None) -> Followup:
    owner = user(engine, login)
    deadline = deadline or datetime(2026, 3, 6, 12, 0, tzinfo=UTC)
    return services.create(engine, new_call(owner, title, type_id(engine, Kind.CALL), deadline))


def retitle(title: str) -> Callable[[Followup, UnitOfWork], None]:
    def change(f: Followup, _uow: UnitOfWork) -> None:
        f.title = title

    return change


def followups_by_uid(engine: Engine, uid: str) -> list[Followup]:
    with UnitOfWork(engine, write=False) as uow:
        return uow.followups.by_uid(uid)
