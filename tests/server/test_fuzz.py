"""Hypothesis fuzz of the PUT and REPORT paths against a live server (SQLite and
PostgreSQL): mutated calendar objects (lines deleted, duplicated, swapped,
values and parameters replaced, bytes flipped) and calendar-queries (random
time ranges, text-matches, comp-filters, garbage). Never a 5xx, always an
answer within the time bound.

The seeds are valid objects and every body of the hostile corpus
(tests/data/bad/), each also sent unchanged as an explicit example.
Derandomized, so CI runs the same examples every time;
``FOLLOWUPS_FUZZ_EXAMPLES=5000`` makes a long run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.conftest import BACKENDS
from tests.server.caldav_support import LiveServer, vevent, vtodo
from tests.server.hostile_support import BOUND, Case, basic, corpus_server, default_headers, load_cases, send

EXAMPLES = int(os.environ.get("FOLLOWUPS_FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

SMALL = [c for c in load_cases() if c.file is not None]
PUT_SEEDS = [c.body() for c in SMALL if c.method == "PUT" and len(c.body()) < 30_000] + [
    vevent("fuzz-event", extra=("RRULE:FREQ=WEEKLY;COUNT=5", "ATTENDEE;CN=Bjørn;PARTSTAT=NEEDS-ACTION:mailto:"
                                "bjorn@example.com", "ORGANIZER:mailto:anna@example.com",
                                "BEGIN:VALARM", "ACTION:DISPLAY", "DESCRIPTION:x", "TRIGGER:-PT15M",
                                "END:VALARM")).encode(),
    vtodo("fuzz-todo", extra=("PRIORITY:1", "STATUS:NEEDS-ACTION", "RRULE:FREQ=DAILY")).encode(),
]
REPORT_SEEDS = [c.body() for c in SMALL if c.method == "REPORT"]


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def fuzzed(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with corpus_server(backend, tmp_path_factory.mktemp("fuzz")) as server:
        yield server


def check(server: LiveServer, method: str, target: str, body: bytes, extra: dict[str, str] | None = None) -> None:
    headers = {**default_headers(method, body), "Authorization": basic("anna", "secret"), **(extra or {})}
    answer = send(server.port, method, target, body, headers)
    assert answer.status < 500, (method, target, body[:300], answer.body[:300])
    assert answer.seconds < BOUND, f"{method} {target}: {answer.seconds:.2f} s for {body[:200]!r}"


# -- PUT ---------------------------------------------------------------------------------------

NAMES = st.sampled_from(["SUMMARY", "DTSTART", "DTEND", "DUE", "RRULE", "EXDATE", "RDATE", "ATTENDEE", "UID",
                         "DURATION", "TRIGGER", "TZID", "BEGIN", "END", "X-CRM-SALE", "RECURRENCE-ID", "CLASS",
                         "STATUS", "SEQUENCE", "CATEGORIES", "X-FOO"])
VALUES = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", "20260302T090000Z", "00010101", "99991231T235959Z", "FREQ=SECONDLY",
                     "FREQ=DAILY;COUNT=1000000000", "FREQ=HOURLY;BYMONTHDAY=31;BYMONTH=2", "VEVENT", "VTODO",
                     "VALARM", "X-FOO", "P99999999W", "-PT2147483648M", "mailto:bjorn@example.com",
                     "99999999999999999999", "Europe/Oslo", "\x00", "a\\nb", "x" * 300]),
    st.integers().map(str),
)
PARAMS = st.builds(lambda k, v: f";{k}={v}", st.sampled_from(["TZID", "CN", "VALUE", "PARTSTAT", "RELATED",
                                                              "X-P", "CUTYPE", "ROLE"]),
                   st.one_of(st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=20),
                             st.sampled_from(['"a:b"', "DATE", "PERIOD", "Europe/Oslo", "", '"'])))


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    lines = draw(st.sampled_from(PUT_SEEDS)).split(b"\r\n")
    for _ in range(draw(st.integers(1, 4))):
        if not lines:
            lines = [b""]
        i, j = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["delete", "duplicate", "swap", "value", "parameter", "insert", "bytes",
                                   "truncate"]))
        if op == "delete":
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[i] * draw(st.integers(1, 3)) if draw(st.booleans()) else lines[i])
        elif op == "swap":
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "value":
            name = lines[i].split(b":", 1)[0] or b"X-A"
            lines[i] = name + b":" + draw(VALUES).encode("utf-8", "surrogatepass")
        elif op == "parameter":
            name, _, value = lines[i].partition(b":")
            lines[i] = name + draw(PARAMS).encode("utf-8", "surrogatepass") + b":" + value
        elif op == "insert":
            lines.insert(i, f"{draw(NAMES)}:{draw(VALUES)}".encode("utf-8", "surrogatepass"))
        elif op == "bytes":
            lines[i] = draw(st.binary(max_size=40))
        else:
            lines = lines[:i]
    return b"\r\n".join(lines)


@pytest.mark.parametrize("case", [c for c in SMALL if c.method == "PUT"], ids=lambda c: c.name)
def test_every_corpus_put_seed_unmutated(fuzzed: LiveServer, case: Case) -> None:
    """The explicit examples: each PUT of the corpus, as is, at a fresh href."""
    check(fuzzed, "PUT", f"/anna/meetings/seed-{case.name}.ics", case.body())


@FUZZ
@given(body=mutated(), collection=st.sampled_from(["meetings", "tasks"]), name=st.integers(0, 20))
def test_put_of_a_mutated_object_is_never_a_5xx(fuzzed: LiveServer, body: bytes, collection: str,
                                                 name: int) -> None:
    check(fuzzed, "PUT", f"/anna/{collection}/fuzz-{name}.ics", body)


# -- REPORT ------------------------------------------------------------------------------------

MOMENTS = st.one_of(
    st.datetimes().map(lambda d: d.strftime("%Y%m%dT%H%M%SZ")),
    st.sampled_from(["00010101T000000Z", "99991231T235959Z", "20260301T000000Z", "2026-03-01", "", "Z", "x"]),
    st.text(max_size=20),
)
COMPONENTS = st.sampled_from(["VCALENDAR", "VEVENT", "VTODO", "VALARM", "VJOURNAL", "VFREEBUSY", "X-FOO", ""])


def _attr(value: str) -> str:
    return value.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")


@st.composite
def query(draw: st.DrawFn) -> bytes:
    inner = ""
    if draw(st.booleans()):
        bounds = [f'{k}="{_attr(draw(MOMENTS))}"' for k in ("start", "end") if draw(st.booleans())]
        inner += f"<C:time-range {' '.join(bounds)}/>"
    if draw(st.booleans()):
        text = _attr(draw(st.text(alphabet=st.characters(blacklist_categories=["Cs", "Cc"]), max_size=30)))
        negate = draw(st.sampled_from(["", ' negate-condition="yes"', ' negate-condition="maybe"']))
        collation = draw(st.sampled_from(["", ' collation="i;octet"', ' collation="i;unknown"']))
        inner += (f'<C:prop-filter name="{draw(NAMES)}"><C:text-match{negate}{collation}>{text}</C:text-match>'
                  "</C:prop-filter>")
    if draw(st.booleans()):
        inner += f'<C:prop-filter name="{draw(NAMES)}"><C:is-not-defined/></C:prop-filter>'
    outer = f'<C:comp-filter name="{draw(COMPONENTS)}">{inner}</C:comp-filter>'
    for _ in range(draw(st.integers(0, 2))):
        outer = f'<C:comp-filter name="{draw(COMPONENTS)}">{outer}</C:comp-filter>'
    root = draw(st.sampled_from(["calendar-query", "free-busy-query"]))
    if root == "free-busy-query":
        body = f'<C:free-busy-query xmlns:C="urn:ietf:params:xml:ns:caldav">{inner}</C:free-busy-query>'
    else:
        body = (f'<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/>'
                f"<C:calendar-data/></D:prop><C:filter>{outer}</C:filter></C:calendar-query>")
    return ('<?xml version="1.0" encoding="utf-8"?>' + body).encode()


REPORT_BODIES = st.one_of(query(), query().map(lambda b: b[: len(b) // 2]), st.binary(max_size=200),
                          st.sampled_from(REPORT_SEEDS) if REPORT_SEEDS else st.just(b""))


@pytest.mark.parametrize("case", [c for c in SMALL if c.method in ("REPORT", "PROPFIND")], ids=lambda c: c.name)
def test_every_corpus_xml_seed_unmutated(fuzzed: LiveServer, case: Case) -> None:
    check(fuzzed, case.method, case.target, case.body())


@FUZZ
@given(body=REPORT_BODIES, collection=st.sampled_from(["meetings/", "tasks/", "", "nowhere/"]),
       depth=st.sampled_from(["0", "1", "infinity", "x"]))
@example(body=b"", collection="meetings/", depth="1")
def test_report_is_never_a_5xx(fuzzed: LiveServer, body: bytes, collection: str, depth: str) -> None:
    check(fuzzed, "REPORT", f"/anna/{collection}", body, {"Depth": depth})
