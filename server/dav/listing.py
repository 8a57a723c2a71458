"""The reads of one's own calendar, answered in our WSGI layer: PROPFIND
(Depth 0 and 1), sync-collection, calendar-multiget, calendar-query by time
range, and GET of the whole calendar.

Radicale answers these by making an ``Item`` of every member, checking rights
and paths for each, and building an element tree of the whole answer: about
50 microseconds a member whatever the storage, the floor every listing sat
on (the README's benchmark), and about 3 ms for a getctag, every client's
poll. Here the answer is written from a template made once per request by
ElementTree with the elements Radicale's own code makes for such a request
(``radicale.app.propfind``, ``radicale.app.report``), with placeholders for
each member's href, ETag, date, content type and text; each member is then
one string substitution from one lean query (a listing of ETags reads no
object text). The answer carries the same bytes and headers as Radicale's:
``tests/server/test_listing.py`` asks both for every request shape below, on
both databases. A GET of the calendar joins the stored texts with
:func:`collection_text`, Radicale's own merge of VCALENDARs written as a scan
of the lines that matter.

Only the owner's own calendars (CRM or personal), and only when their
password was accepted in the last minutes
(:func:`server.services.calendars.own_members`), with no base prefix and no
sharing configured; only these shapes:

- PROPFIND, Depth 0 or 1, a ``prop`` list of properties answered from the
  calendar's row and the members' (getctag, sync-token, getetag,
  displayname, resourcetype, getcontenttype, getlastmodified,
  supported-calendar-component-set, stored properties such as colours, and
  404s); a property answered from rights or principals (privileges, owner,
  getcontentlength, ...) leaves the whole request to Radicale;
- sync-collection without filters or expand, on any token Radicale would
  take (a refused token goes to Radicale, which answers 403);
- calendar-multiget of members' hrefs (an href to the calendar itself, or no
  href at all, goes to Radicale), without expand, under Radicale's bound on
  the VEVENTs it returns (``max_expand_occurrence``);
- calendar-query of one component in a time range, without expand, when the
  time index decides every candidate (``calendars.query``);
- GET of the calendar.

Everything else, and every request of anyone else, is Radicale's.
"""

from __future__ import annotations

import functools
import io
import posixpath
import re
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any
from urllib.parse import quote, unquote, urlparse
from xml.etree import ElementTree as ET

from radicale import httputils, pathutils, xmlutils
from radicale.app.get import propose_filename
from radicale.item import filter as radicale_filter
from sqlalchemy import Engine

from server.dav import basic_auth, radicale_form, scheduling
from server.services import auth as logins
from server.services import calendars
from server.services.calendars import CollectionView, Member
from server.services.errors import InvalidSyncToken

__all__ = ["ENABLED", "METHODS", "collection_text", "handle"]

ENABLED = True
"""Whether the listings are answered here; tests switch it off to get
Radicale's own answers to compare with."""

METHODS = frozenset({"PROPFIND", "REPORT", "GET"})
StartResponse = Callable[..., Any]
Answer = tuple[str, list[tuple[str, str]], bytes]

ENCODING = radicale_form.ENCODING
HREF, ETAG, MODIFIED, TYPE, TEXT, GONE, TOKEN = ("\x01h\x01", "\x01e\x01", "\x01m\x01", "\x01t\x01",
                                                 "\x01x\x01", "\x01g\x01", "\x01s\x01")
_FIELDS = {HREF: "h", ETAG: "e", MODIFIED: "m", TYPE: "t", TEXT: "x", GONE: "g", TOKEN: "s"}


def _clark(human: str) -> str:
    return xmlutils.make_clark(human)


GETETAG, GETLASTMODIFIED, GETCONTENTTYPE, RESOURCETYPE = (
    _clark("D:getetag"), _clark("D:getlastmodified"), _clark("D:getcontenttype"), _clark("D:resourcetype"))
CALENDAR_DATA, ADDRESS_DATA = _clark("C:calendar-data"), _clark("CR:address-data")
MEMBER_DEPENDS_ON_MORE = frozenset(_clark(t) for t in (
    "D:principal-collection-set", "D:current-user-principal", "D:current-user-privilege-set",
    "D:supported-report-set", "D:getcontentlength", "D:owner", "C:max-resource-size"))
"""Properties Radicale answers for a member from rights, the user or the text:
a PROPFIND asking for one goes to Radicale."""


def _escape(text: str) -> str:
    """Character data as ElementTree writes it."""
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    return text


def _write(root: ET.Element) -> str:
    """``root`` serialized the way Radicale serializes its answers."""
    return radicale_form.write_xml(root).decode(ENCODING)


def _end(written: str) -> int:
    """Where the root's end tag starts in ``written`` (its prefix is whatever
    ElementTree's namespace registry says: Radicale registers DAV: as the
    default namespace)."""
    return written.rindex("</")


def _response_start(written: str, marker: str) -> int:
    """Where the response whose href is ``marker`` starts: ``<response><href>marker``."""
    href = written.rindex("<", 0, written.index(marker))
    return written.rindex("<", 0, href)


def _template(segment: str) -> str:
    """A piece of serialized XML with placeholders as a ``%`` format string."""
    segment = segment.replace("%", "%%")
    for marker, field in _FIELDS.items():
        segment = segment.replace(marker, f"%({field})s")
    return segment


def _element(tag: str, text: str | None = None, children: Iterable[ET.Element] = ()) -> ET.Element:
    element = ET.Element(tag)
    element.text = text
    element.extend(children)
    return element


def _propstat(code: int, props: Sequence[ET.Element]) -> ET.Element:
    return _element(_clark("D:propstat"), children=[
        _element(_clark("D:prop"), children=props), _element(_clark("D:status"), xmlutils.make_response(code))])


def _href_of(collection_path: str, name: str) -> str:
    """A member's href as Radicale writes it (no base prefix), escaped for XML.

    For a name that is one safe path component (every stored one: a PUT's
    name is checked), Radicale's joining and sanitizing of the path change
    nothing, and quoting goes character by character: the quoted calendar
    path plus the quoted name, without Radicale's three path sanitizations
    a member (most of a listing's time at 65,000 members)."""
    if name and "/" not in name and name not in (".", ".."):
        return _quoted_prefix(collection_path) + (name if _UNQUOTED.fullmatch(name) else quote(name))
    return _escape(xmlutils.make_href("", pathutils.unstrip_path(posixpath.join(collection_path, name))))


_UNQUOTED = re.compile(r"[A-Za-z0-9_.~-]+")
"""A name ``quote`` leaves as it is (its always-safe characters): a UUID's
name is checked here in a fraction of quoting's time, twice a member in a
client's first sync."""


@functools.lru_cache(maxsize=64)
def _quoted_prefix(collection_path: str) -> str:
    return xmlutils.make_href("", pathutils.unstrip_path(collection_path, True))


def _content_type(component: str) -> str:
    return f"text/calendar;charset={ENCODING};component={component}"


# -- the request --------------------------------------------------------------------------


class _Request:
    """What every listing needs: the owner, the calendar, the body."""

    def __init__(self, app: Any, environ: dict[str, Any], parts: list[str], body: bytes,
                 login: str, password: str) -> None:
        self.app = app
        self.environ = environ
        self.parts = parts
        self.body = body
        self.login = login
        self.password = password
        self.path = f"{parts[0]}/{parts[1]}"

    @property
    def engine(self) -> Engine:
        return self.app.engine  # type: ignore[no-any-return]

    def members(self, hrefs: Iterable[str] | None = None,
                texts: bool = False) -> tuple[CollectionView, list[Member]] | None:
        return calendars.own_members(self.engine, self.login, self.password, self.parts[1], hrefs, texts)

    def respond(self, start_response: StartResponse, status: str, headers: list[tuple[str, str]],
                body: bytes) -> list[bytes]:
        """Radicale's ending of every answer: gzip when the client takes it,
        the length, the configured extra headers, our DAV header."""
        body, headers = radicale_form.gzip_if_accepted(self.environ, body, headers)
        merged = dict(headers + [("Content-Length", str(len(body)))])
        merged.update(_extra_headers(self.app.radicale.configuration))
        start_response(status, scheduling.dav_header(list(merged.items())))
        return [body]

    def respond_in_chunks(self, start_response: StartResponse, status: str, headers: list[tuple[str, str]],
                          pieces: list[str]) -> Iterable[bytes]:
        """:meth:`respond` for an answer given as pieces of text, sent as it is
        encoded (gzipped: compressed piece by piece, then sent), never joined
        into one string: its length is counted from the pieces."""
        if radicale_form.accepts_gzip(self.environ):
            compressor = zlib.compressobj(wbits=16 + zlib.MAX_WBITS)
            packed = [compressor.compress(chunk) for chunk in _chunks(pieces)]
            packed.append(compressor.flush())
            body: Iterable[bytes] = packed
            length = sum(len(p) for p in packed)
            headers = headers + [("Content-Encoding", "gzip")]
        else:
            body = _chunks(pieces)
            length = sum(len(p) if p.isascii() else len(p.encode(ENCODING)) for p in pieces)
        merged = dict(headers + [("Content-Length", str(length))])
        merged.update(_extra_headers(self.app.radicale.configuration))
        start_response(status, scheduling.dav_header(list(merged.items())))
        return body


CHUNK = 256 * 1024
"""Characters of an answer encoded and sent at a time (:meth:`_Request.respond_in_chunks`)."""


def _chunks(pieces: list[str]) -> Iterator[bytes]:
    """``pieces`` encoded, about :data:`CHUNK` characters at a time."""
    batch: list[str] = []
    size = 0
    for piece in pieces:
        batch.append(piece)
        size += len(piece)
        if size >= CHUNK:
            yield "".join(batch).encode(ENCODING)
            batch, size = [], 0
    if batch:
        yield "".join(batch).encode(ENCODING)


def _extra_headers(configuration: Any) -> dict[str, str]:
    return {key: configuration.get("headers", key) for key in configuration.options("headers")}


def _parse(body: bytes) -> ET.Element | None:
    """The XML body, or None (Radicale answers an empty or broken one)."""
    if not body.strip():
        return None
    try:
        return ET.fromstring(body)
    except ET.ParseError:
        return None


def handle(app: Any, environ: dict[str, Any], method: str, parts: list[str], body: bytes,
           start_response: StartResponse) -> Iterable[bytes] | None:
    """The answer to a listing of one's own calendar ``/parts[0]/parts[1]/``,
    or None: Radicale answers."""
    if not ENABLED or len(parts) != 2 or environ.get("SCRIPT_NAME") or "HTTP_X_SCRIPT_NAME" in environ:
        return None
    if app.radicale.configuration.get("sharing", "type") != "none":
        return None
    if pathutils.sanitize_path(environ.get("PATH_INFO", "")).strip("/") != f"{parts[0]}/{parts[1]}":
        return None
    found = basic_auth.credentials(environ)
    if found is None or found[0] != parts[0] or not calendars.may_write(found[0], parts[0], parts[1]):
        return None
    request = _Request(app, environ, parts, body, *found)
    xml = None
    if method != "GET":
        xml = _parse(body)
        if xml is None:
            return None
    try:
        return _dispatch(request, method, xml, start_response)
    except calendars.Unverified:
        pass
    # A login not checked in the last minutes (a client's first request, or
    # one after a pause) is checked here, as a PUT's is (server.dav.put), not
    # left to Radicale: its path reads every member through the storage
    # plugin, 300 MiB and seconds for a Depth 1 PROPFIND of 65,000 events. A
    # refused password goes on to Radicale, which answers 401 with its delay.
    if not logins.authenticate(request.engine, *found):
        return None
    try:
        return _dispatch(request, method, xml, start_response)
    except calendars.Unverified:
        return None  # the password changed in between: Radicale answers


def _dispatch(request: _Request, method: str, xml: ET.Element | None,
              start_response: StartResponse) -> Iterable[bytes] | None:
    """:func:`handle` once the request is known to be a listing of one's own
    calendar (``xml``: the parsed body, None for a GET)."""
    if xml is None:
        return _get(request, start_response)
    environ = request.environ
    if method == "PROPFIND" and environ.get("HTTP_DEPTH", "0") in ("0", "1"):
        return _propfind(request, xml, environ.get("HTTP_DEPTH", "0"), start_response)
    if method == "REPORT" and xml.tag == _clark("D:sync-collection"):
        return _sync(request, xml, start_response)
    if method == "REPORT" and xml.tag == _clark("C:calendar-multiget"):
        return _multiget(request, xml, start_response)
    if method == "REPORT" and xml.tag == _clark("C:calendar-query"):
        return _query(request, xml, start_response)
    return None


# -- PROPFIND depth 1 ----------------------------------------------------------------------


def _propfind(request: _Request, xml: ET.Element, depth: str,
              start_response: StartResponse) -> Iterable[bytes] | None:
    if xml.tag != _clark("D:propfind") or len(xml) == 0 or xml[0].tag != _clark("D:prop"):
        return None  # allprop, propname: Radicale
    props = [prop.tag for prop in xml[0]]
    if any(tag in MEMBER_DEPENDS_ON_MORE for tag in props):
        return None
    listed = request.members(hrefs=() if depth == "0" else None)
    if listed is None:
        return None
    view, members = listed
    own = _calendar_response(view, props)
    if own is not None:
        status = "207 Multi-Status"
        headers = [("DAV", httputils.DAV_HEADERS), ("Content-Type", f"text/xml; charset={ENCODING}")]
        head = _write(_element(_clark("D:multistatus"), children=[own]))
    elif depth == "0":
        return None
    else:
        found = _radicale_depth0(request)
        if found is None:
            return None
        status, headers, head = found
    if depth == "0":
        return request.respond(start_response, status, headers, head.encode(ENCODING))
    member = _propfind_member(head, props)
    if member is None:
        return None
    item = _template(member)
    collection_path = request.path
    out = [head[:_end(head)]]
    dated = "%(m)s" in item  # an HTTP date is 2 us a member: only when asked for
    for m in members:
        out.append(item % {"h": _href_of(collection_path, m.href), "e": _escape(m.etag),
                           "m": m.last_modified if dated else "", "t": _content_type(m.component)})
    out.append(head[_end(head):])
    # Sent in chunks, never joined: a Depth 1 answer for 65,000 members was a
    # string and its bytes of 20 MB each, on top of the pieces (docs/memory.md).
    return request.respond_in_chunks(start_response, status, headers, out)


CALENDAR_DEPENDS_ON_MORE = frozenset(_clark(t) for t in (
    "C:calendar-user-address-set", "D:principal-URL", "CR:addressbook-home-set", "C:calendar-home-set",
    "CR:supported-address-data", "RADICALE:displayname", "RADICALE:getcontentcount", "CS:source",
    "RADICALE:version"))
"""Properties of a calendar left to Radicale (with :data:`MEMBER_DEPENDS_ON_MORE`)."""
DEFAULT_COMPONENTS = ["VTODO", "VEVENT", "VJOURNAL"]


def _calendar_response(view: CollectionView, props: list[str]) -> ET.Element | None:
    """The calendar's own response to a PROPFIND of ``props``, as Radicale's
    ``xml_propfind_response`` makes it for a calendar collection; None when a
    property is one it answers from more than the calendar's row."""
    if any(tag in CALENDAR_DEPENDS_ON_MORE for tag in props):
        return None
    path = f"{view.principal}/{view.name}"
    responses: dict[int, list[ET.Element]] = {}
    for tag in props:
        element = ET.Element(tag)
        code = 200
        if tag in (GETETAG, _clark("CS:getctag")):
            element.text = view.ctag
        elif tag == GETLASTMODIFIED:
            element.text = view.last_modified
        elif tag == _clark("C:supported-calendar-component-set"):
            listed = view.props.get("C:supported-calendar-component-set")
            for name in (listed.split(",") if listed else DEFAULT_COMPONENTS):
                element.append(_element(_clark("C:comp")))
                element[-1].set("name", name)
        elif tag == GETCONTENTTYPE:
            element.text = xmlutils.MIMETYPES["VCALENDAR"]
        elif tag == RESOURCETYPE:
            element.extend([ET.Element(_clark("C:calendar")), ET.Element(_clark("D:collection"))])
        elif tag == _clark("D:displayname"):
            element.text = view.props.get("D:displayname") or path
        elif tag == _clark("D:sync-token"):
            element.text = view.token
        else:
            text = view.props.get(xmlutils.make_human_tag(tag))
            if text is None:
                code = 404
            else:
                element.text = text
        responses.setdefault(code, []).append(element)
    response = _element(_clark("D:response"), children=[
        _element(_clark("D:href"), xmlutils.make_href("", pathutils.unstrip_path(path, True)))])
    response.extend(_propstat(code, children) for code, children in responses.items())
    return response


def _radicale_depth0(request: _Request) -> tuple[str, list[tuple[str, str]], str] | None:
    """Radicale's answer to the same PROPFIND with Depth 0: the calendar's own
    response, as Radicale makes it; None unless it is a plain 207."""
    inner = dict(request.environ)
    inner["HTTP_DEPTH"] = "0"
    inner["wsgi.input"] = io.BytesIO(request.body)
    inner["CONTENT_LENGTH"] = str(len(request.body))
    inner.pop("HTTP_ACCEPT_ENCODING", None)
    held: list[Any] = []

    def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        held[:] = [status, headers]
        return lambda data: None

    result = request.app.radicale(inner, start)
    try:
        body = b"".join(result)
    finally:
        if hasattr(result, "close"):
            result.close()
    if not held or not held[0].startswith("207"):
        return None
    try:
        text = body.decode(ENCODING)
    except UnicodeDecodeError:
        return None
    if not text.endswith(">") or "</" not in text:
        return None
    headers = [(k, v) for k, v in held[1] if k.lower() not in ("content-length", "content-encoding")]
    extra = _extra_headers(request.app.radicale.configuration)
    headers = [(k, v) for k, v in headers if k not in extra]
    return held[0], headers, text


def _propfind_member(head: str, props: list[str]) -> str | None:
    """The serialized response of one member (placeholders for its fields)
    after the calendar's own response ``head``, as Radicale's
    ``xml_propfind_response`` makes it for these ``props``."""
    responses: dict[int, list[ET.Element]] = {}
    for tag in props:
        code, text = 200, None
        if tag == GETETAG:
            text = ETAG
        elif tag == GETLASTMODIFIED:
            text = MODIFIED
        elif tag == GETCONTENTTYPE:
            text = TYPE
        elif tag != RESOURCETYPE:
            code = 404
        responses.setdefault(code, []).append(_element(tag, text))
    response = _element(_clark("D:response"), children=[_element(_clark("D:href"), HREF)])
    response.extend(_propstat(code, children) for code, children in responses.items())
    root = ET.fromstring(head.encode(ENCODING))
    root.append(response)
    written = _write(root)
    start = _end(head)
    if written[:start] != head[:start] or written[_end(written):] != head[start:]:
        return None  # ElementTree does not write Radicale's answer back as it was: Radicale answers
    return written[start:_end(written)]


# -- REPORTs -------------------------------------------------------------------------------


class _Report:
    """The pieces of a REPORT's multistatus: the start (and sync token), one
    response for a missing member, one for a member found."""

    def __init__(self, xml: ET.Element, token: bool) -> None:
        prop = xml.find(_clark("D:prop"))
        self.props = list(prop) if prop is not None else []
        self.text = any(p.tag in (CALENDAR_DATA, ADDRESS_DATA) for p in self.props)
        found: list[ET.Element] = []
        not_found: list[ET.Element] = []
        for p in self.props:
            if p.tag == GETCONTENTTYPE:
                found.append(_element(p.tag, TYPE))
            elif p.tag == GETETAG:
                found.append(_element(p.tag, ETAG))
            elif p.tag in (CALENDAR_DATA, ADDRESS_DATA):
                found.append(_element(p.tag, TEXT))
            else:
                not_found.append(_element(p.tag))
        root = _element(_clark("D:multistatus"))
        self.token = token
        self.empty = _write(root)
        if token:
            root.append(_element(_clark("D:sync-token"), TOKEN))
        root.append(_element(_clark("D:response"), children=[
            _element(_clark("D:href"), GONE), _element(_clark("D:status"), xmlutils.make_response(404))]))
        if found or not_found:
            member = _element(_clark("D:response"), children=[_element(_clark("D:href"), HREF)])
            member.extend(_propstat(code, p) for code, p in ((200, found), (404, not_found)) if p)
            root.append(member)
        self.members_shown = bool(found or not_found)
        written = _write(root)
        end = _end(written)
        gone_at = _response_start(written, GONE)
        member_at = _response_start(written, HREF) if self.members_shown else end
        self.head = _template(written[:gone_at])
        self.gone = _template(written[gone_at:member_at])
        self.member = _template(written[member_at:end])
        self.end = written[end:]
        self.head_without_members = self.head
        if not self.members_shown:
            return
        # The root declares the namespaces of what it holds: without any member
        # shown (none found), it is written from a tree without one.
        root.remove(root[-1])
        bare = _write(root)
        self.head_without_members = _template(bare[:_response_start(bare, GONE)])

    def answer(self, collection_path: str, gone: Iterable[str], members: Sequence[Member],
               token: str = "", gone_hrefs: Iterable[str] = ()) -> list[str]:
        """The multistatus, in pieces: removed or missing ``gone`` names (and
        already made ``gone_hrefs``), then the ``members``."""
        shown = self.members_shown and bool(members)
        gone, gone_hrefs = list(gone), list(gone_hrefs)
        if not (shown or gone or gone_hrefs or self.token):
            return [self.empty]  # ElementTree writes an empty root as <multistatus ... />
        out = [(self.head if shown else self.head_without_members) % {"s": _escape(token)}]
        out.extend(self.gone % {"g": h} for h in gone_hrefs)
        out.extend(self.gone % {"g": _href_of(collection_path, name)} for name in gone)
        if shown:
            for m in members:
                text = _escape(m.text) if self.text and m.text is not None else ""
                out.append(self.member % {"h": _href_of(collection_path, m.href), "e": _escape(m.etag),
                                          "t": _content_type(m.component), "x": text})
        out.append(self.end)
        return out


def _report_shape_ok(xml: ET.Element) -> bool:
    """No filter and no expand (those are Radicale's)."""
    return (not xml.findall(_clark("C:filter")) and not xml.findall(_clark("CR:filter"))
            and xml.find(".//" + _clark("C:expand")) is None)


_VEVENT = re.compile("BEGIN:VEVENT", re.IGNORECASE)


def _within_occurrence_bound(request: _Request, report: _Report, members: Sequence[Member]) -> bool:
    """Whether Radicale would not refuse the answer for holding more VEVENTs
    than ``max_expand_occurrence``: it counts the lines ``BEGIN:VEVENT`` of
    every text it returns. Counted here from above (any ASCII text's
    occurrences of the words); over the bound, Radicale decides exactly."""
    bound = request.app.radicale.configuration.get("reporting", "max_expand_occurrence")
    if not bound or not report.text:
        return True
    copies = sum(1 for p in report.props if p.tag in (CALENDAR_DATA, ADDRESS_DATA))
    # A line BEGIN:VEVENT and its line break take 14 characters: texts this
    # short cannot hold more, and need no counting.
    if sum((len(m.text or "") + 2) // 14 for m in members) * copies <= bound:
        return True
    total = 0
    for m in members:
        text = m.text or ""
        if not text.isascii():
            total += sum(1 for line in text.splitlines() if line.upper() == "BEGIN:VEVENT") * copies
        else:
            total += len(_VEVENT.findall(text)) * copies
        if total > bound:
            return False
    return True


def _xml_answer(request: _Request, start_response: StartResponse, pieces: list[str]) -> Iterable[bytes]:
    """A multistatus given in pieces, sent in chunks (:meth:`_Request.respond_in_chunks`)."""
    return request.respond_in_chunks(start_response, "207 Multi-Status",
                                     [("Content-Type", f"text/xml; charset={ENCODING}")], pieces)


def _sync(request: _Request, xml: ET.Element, start_response: StartResponse) -> Iterable[bytes] | None:
    if not _report_shape_ok(xml):
        return None
    element = xml.find(_clark("D:sync-token"))
    old_token = element.text.strip() if element is not None and element.text else ""
    report = _Report(xml, token=True)
    try:
        synced = calendars.own_sync(request.engine, request.login, request.password, request.parts[1], old_token,
                                    texts=report.text)
    except InvalidSyncToken:
        return None  # Radicale answers 403 DAV:valid-sync-token, delayed
    if synced is None:
        return None
    token, hrefs, changed = synced
    by_href = {m.href: m for m in changed}
    gone = [h for h in hrefs if h not in by_href]
    members = [by_href[h] for h in hrefs if h in by_href]
    if not _within_occurrence_bound(request, report, members):
        return None
    return _xml_answer(request, start_response, report.answer(request.path, gone, members, token))


_PLAIN_PATH = re.compile(r"(?:/(?!\.\.?(?:/|$))[^/;?#\\%\t\r\n]+){3}")
"""Three path components, none empty, ``.`` or ``..``, without a character
that ``unquote``, ``urlparse`` or ``sanitize_path`` would read (``urlparse``
drops tabs and line breaks wherever they are)."""


def _reference(text: str) -> str:
    """The path Radicale reads from a multiget's href:
    ``sanitize_path(unquote(urlparse(text).path))``. A plain absolute path of
    three safe components, the common case, is that already once unquoted
    (urlparse and sanitize_path change nothing there and cost most of a
    multiget's parsing); one without ``%`` is that path as it stands,
    checked in one regular expression."""
    if _PLAIN_PATH.fullmatch(text):
        return text
    if text.startswith("/") and not text.startswith("//") and not any(c in text for c in ";?#\\\t\r\n"):
        path = unquote(text)
        parts = path.split("/")
        if len(parts) == 4 and all(p and p not in (".", "..") for p in parts[1:]):
            return path
    return pathutils.sanitize_path(unquote(urlparse(text).path))


def _multiget(request: _Request, xml: ET.Element, start_response: StartResponse) -> Iterable[bytes] | None:
    if not _report_shape_ok(xml):
        return None
    references: set[str] = set()
    for element in xml.findall(_clark("D:href")):
        try:
            references.add(_reference(element.text))  # type: ignore[arg-type]
        except (TypeError, ValueError, AttributeError):
            return None  # Radicale's answer to a broken href
    invalid: list[str] = []
    names: list[str] = []
    start = pathutils.unstrip_path(request.path, True)
    for reference in references:  # a set, iterated as Radicale iterates its own
        if not (reference + "/").startswith(start):
            invalid.append(_escape(xmlutils.make_href("", reference)))
            continue
        name = reference[len(start):]
        if not name:
            return None  # the calendar itself: Radicale's calendar-query
        if not pathutils.is_safe_path_component(name):
            invalid.append(_escape(xmlutils.make_href("", reference)))
            continue
        names.append(name)
    if not names and not invalid:
        return None
    report = _Report(xml, token=False)
    listed = request.members(dict.fromkeys(names), texts=report.text)
    if listed is None:
        return None
    _view, found = listed
    by_href = {m.href: m for m in found}
    gone = [n for n in names if n not in by_href]
    members = [by_href[n] for n in names if n in by_href]
    if not _within_occurrence_bound(request, report, members):
        return None
    return _xml_answer(request, start_response,
                       report.answer(request.path, gone, members, gone_hrefs=invalid))


def _query(request: _Request, xml: ET.Element, start_response: StartResponse) -> Iterable[bytes] | None:
    """A calendar-query whose filter is one component and a time range: the
    storage plugin's own candidates (``calendars.query``, which Radicale's
    ``get_filtered`` asks for), answered here when every one of them is
    decided (``matched``); otherwise Radicale tests them itself."""
    if xml.find(".//" + _clark("C:expand")) is not None:
        return None
    filters = xml.findall(_clark("C:filter")) + xml.findall(_clark("CR:filter"))
    if not filters:
        return None
    try:
        tag, start, end, simple = radicale_filter.simplify_prefilters(filters, "VCALENDAR")
    except ValueError:
        return None  # Radicale's 400
    if not simple:
        return None
    listed = request.members(hrefs=())
    if listed is None:
        return None
    found = calendars.query(request.engine, listed[0].id, tag, start, end, simple)
    if not all(matched for _o, matched in found):
        return None
    members = [Member(o.href, o.etag, o.component, o.last_modified, o.text) for o, _matched in found]
    report = _Report(xml, token=False)
    if not _within_occurrence_bound(request, report, members):
        return None
    return _xml_answer(request, start_response, report.answer(request.path, (), members))


# -- GET of the calendar -----------------------------------------------------------------


class _Calendar:
    """What Radicale's ``propose_filename`` reads of a collection."""

    tag = "VCALENDAR"

    def __init__(self, view: CollectionView) -> None:
        self.path = f"{view.principal}/{view.name}"
        self.props = view.props

    def get_meta(self, key: str | None = None) -> Any:
        return self.props.get(key) if key is not None else dict(self.props)


def _get(request: _Request, start_response: StartResponse) -> Iterable[bytes] | None:
    """The calendar as one VCALENDAR, merged while its texts stream in from
    the database and sent in chunks: the merge keeps slices of the texts (the
    answer's own size) and nothing else of the calendar."""
    merger = _Merger()
    view = calendars.own_texts(request.engine, request.login, request.password, request.parts[1], merger.add)
    if view is None:
        return None
    calendar = _Calendar(view)
    pieces = merger.pieces(calendar.get_meta("D:displayname"), calendar.get_meta("C:calendar-description"))
    disposition = f"attachment; filename*={ENCODING}''{quote(propose_filename(calendar), encoding=ENCODING)}"  # type: ignore[arg-type]
    headers = [("Content-Type", f"text/calendar; charset={ENCODING}"), ("Last-Modified", view.last_modified),
               ("ETag", view.ctag), ("Content-Disposition", disposition)]
    return request.respond_in_chunks(start_response, "200 OK", headers, pieces)


_MARKS = re.compile(r"\r\n(?=BEGIN:|END:|TZID:)")
_BLOCK_LINES = re.compile(r"\r\n(?:(B)EGIN|END):")
"""The lines starting or ending a block after the first, group 1 set for a
start. Their names are not read here (a scan for names cost twice as much):
only a VTIMEZONE's start needs its name, and the line's end."""


def collection_text(texts: Iterable[str], displayname: str | None, description: str | None) -> str:
    """The objects ``texts`` as one VCALENDAR, exactly as Radicale's
    ``BaseCollection.serialize`` merges a calendar's items (each VTIMEZONE
    once by TZID, the other components in order, the calendar's name and
    description as X-WR-CALNAME and X-WR-CALDESC).

    Radicale walks every line; only lines starting ``BEGIN:``, ``END:`` or
    ``TZID:`` change what happens to the lines after them, so this finds those
    (a regular expression, in C) and copies the runs of lines between them
    whole. ``tests/server/test_listing.py`` holds it to Radicale's own on
    odd texts (LF line ends, lower case, unclosed blocks, repeated zones)."""
    merger = _Merger()
    for text in texts:
        merger.add(text)
    return merger.text(displayname, description)


class _Merger:
    """Radicale's merge state, carried from item to item as Radicale carries it.

    Lines go to one of two places (the components, or the VTIMEZONE being
    read) or nowhere. Consecutive lines bound for the same place are one
    slice of the text, taken whole: a VEVENT with its alarms is one slice."""

    def __init__(self) -> None:
        self.in_vcalendar = False
        self.vtimezone: list[str] = []
        self.in_vtimezone = False
        """Whether ``vtimezone`` holds lines (Radicale's ``if vtimezone``), slices pending included."""
        self.tzid: str | None = None
        self.included: set[str] = set()
        self.vtimezones: list[str] = []
        self.components: list[str] = []

    def add(self, text: str) -> None:
        if not (self.in_vcalendar or self.in_vtimezone or self.tzid is not None) and self._add_plain(text):
            return
        self._add_lines(text)

    def _add_plain(self, text: str) -> bool:
        """The common case at a fraction of the cost, or False (nothing taken):
        one VCALENDAR of CRLF lines whose blocks nest properly, each VTIMEZONE
        with one TZID line before its own blocks. Radicale's walk then amounts
        to: each top-level block to the components whole, each VTIMEZONE to
        the zones when its TZID is new, the calendar's own lines dropped."""
        # Lines end at CRLF alone, as in Radicale's walk: a bare CR or LF
        # inside a line changes nothing here either.
        if not text.startswith("BEGIN:VCALENDAR\r\n") or not text.endswith("\r\nEND:VCALENDAR\r\n"):
            return False
        depth = 1
        blocks: list[tuple[int, int, bool]] = []  # (start, end with its CRLF, a VTIMEZONE)
        start, zone, last = 0, False, len(text) - len("END:VCALENDAR\r\n")
        for m in _BLOCK_LINES.finditer(text):
            if m.group(1):
                depth += 1
                if depth == 2:
                    start, zone = m.start() + 2, text.startswith("VTIMEZONE\r\n", m.end())
            else:
                if depth == 2:
                    blocks.append((start, text.index("\r\n", m.end()) + 2, zone))
                depth -= 1
                if depth == 0:
                    if m.start() + 2 != last:
                        return False
                    break
        if depth != 0:
            return False
        zones: list[tuple[str, int, int]] = []
        for start, end, zone in blocks:
            if zone:
                first = text.find("\r\nTZID:", start, end)
                nested = text.find("\r\nBEGIN:", start, end)
                if (first == -1 or text.find("\r\nTZID:", first + 2, end) != -1
                        or (nested != -1 and nested < first)):
                    return False
                zones.append((text[first + 7:text.index("\r\n", first + 2)], start, end))
        for tzid, start, end in zones:
            if tzid not in self.included:
                self.vtimezones.append(text[start:end])
                self.included.add(tzid)
        self.components.extend([text[start:end] for start, end, zone in blocks if not zone])
        return True

    def _add_lines(self, text: str) -> None:
        """Radicale's walk over every line that changes its state."""
        size = len(text)
        # Line starts that matter: the first line, and every line after a CRLF
        # that starts with BEGIN:, END: or TZID:. The lines in between are
        # "plain": where they go depends only on the state.
        starts = [0]
        starts += [m.end() for m in _MARKS.finditer(text)]
        last = len(starts) - 1
        depth = 0
        pending: list[str] | None = None  # where text[pending_from:pending_to] goes
        pending_from = pending_to = 0

        def put(target: list[str] | None, begin: int, end: int) -> None:
            """Lines text[begin:end] (CRLF included) to ``target``."""
            nonlocal pending, pending_from, pending_to
            if target is pending and begin == pending_to:
                pending_to = end
                return
            if pending is not None:
                pending.append(text[pending_from:pending_to])
            pending, pending_from, pending_to = target, begin, end

        def flush() -> None:
            nonlocal pending
            if pending is not None:
                pending.append(text[pending_from:pending_to])
            pending = None

        for i, begin in enumerate(starts):
            line_end = text.find("\r\n", begin)
            if line_end == -1:
                line_end = size
            line = text[begin:line_end]
            target: list[str] | None = None
            closes_zone = False
            if line.startswith("BEGIN:"):
                depth += 1
            if depth == 1 and line == "BEGIN:VCALENDAR":
                self.in_vcalendar = True
            elif self.in_vcalendar:
                if depth == 1 and line.startswith("END:"):
                    self.in_vcalendar = False
                if depth == 2 and line == "BEGIN:VTIMEZONE":
                    target = self.vtimezone
                elif self.in_vtimezone:
                    target = self.vtimezone
                    if depth == 2 and line.startswith("TZID:"):
                        self.tzid = line[len("TZID:"):]
                    elif depth == 2 and line.startswith("END:"):
                        closes_zone = True
                elif depth >= 2:
                    target = self.components
            if line.startswith("END:"):
                depth -= 1
            if target is not None:
                if line_end < size:
                    put(target, begin, line_end + 2)
                else:  # the last line, without its CRLF: Radicale adds one
                    flush()
                    target.append(line + "\r\n")
                if target is self.vtimezone:
                    self.in_vtimezone = True
            if closes_zone:
                flush()
                if self.tzid is None or self.tzid not in self.included:
                    self.vtimezones.append("".join(self.vtimezone))
                if self.tzid is not None:
                    self.included.add(self.tzid)
                self.vtimezone.clear()
                self.in_vtimezone = False
                self.tzid = None
            # The plain lines up to the next marked line, or to the end (a
            # text ending in CRLF ends with one empty line: Radicale splits on CRLF).
            run_start = line_end + 2
            run_end = starts[i + 1] - 2 if i < last else size
            if run_start > run_end or not self.in_vcalendar:
                continue
            if self.in_vtimezone:
                target = self.vtimezone
            elif depth >= 2:
                target = self.components
            else:
                continue
            if i < last:
                put(target, run_start, run_end + 2)
            else:
                flush()
                target.append(text[run_start:] + "\r\n")
        flush()

    def text(self, displayname: str | None, description: str | None) -> str:
        return "".join(self.pieces(displayname, description))

    def pieces(self, displayname: str | None, description: str | None) -> list[str]:
        """The merged VCALENDAR as pieces of text, in order."""
        import vobject

        template = vobject.iCalendar()
        if displayname:
            template.add("X-WR-CALNAME")
            template.x_wr_calname.value_param = "TEXT"
            template.x_wr_calname.value = displayname
        if description:
            template.add("X-WR-CALDESC")
            template.x_wr_caldesc.value_param = "TEXT"
            template.x_wr_caldesc.value = description
        written = template.serialize()
        at = written.find("\r\nEND:VCALENDAR\r\n") + 2
        return [written[:at], *self.vtimezones, *self.components, written[at:]]
