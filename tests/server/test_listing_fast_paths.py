"""The quick paths of ``server.dav.listing`` against what they stand for:
a multiget's href read as Radicale reads it, a member's href written as
Radicale writes it, and the merge of a GET on texts of every line shape the
quick path now takes (bare CRs and LFs inside lines)."""

from __future__ import annotations

import posixpath
from urllib.parse import unquote, urlparse

from hypothesis import given, settings
from hypothesis import strategies as st
from radicale import pathutils, xmlutils

from server.dav import listing
from tests.server.test_listing import _radicale

SEGMENTS = st.one_of(st.sampled_from(["", ".", "..", "...", ".x", "a.ics", "a b", "a%2Fb", "%2e%2E", "x;y", "q?x=1",
                                      "f#g", "b\\c", "ø", "x\n", "..\n", "~a_b-c.ics", "&amp;"]),
                     st.text(alphabet="ab./%;?#\\~-_ \n2Fe", max_size=6))


@settings(max_examples=500, deadline=None)
@given(st.lists(SEGMENTS, min_size=0, max_size=5), st.sampled_from(["/", "", "//", "http://h/"]),
       st.sampled_from(["", "/"]))
def test_a_multiget_href_is_read_as_radicale_reads_it(segments: list[str], lead: str, trail: str) -> None:
    text = lead + "/".join(segments) + trail
    try:
        expected = pathutils.sanitize_path(unquote(urlparse(text).path))
    except ValueError:
        return  # Radicale's answer to a broken href: none here either (the full path raises it too)
    assert listing._reference(text) == expected


@settings(max_examples=300, deadline=None)
@given(st.one_of(SEGMENTS, st.text(max_size=12)))
def test_a_member_href_is_written_as_radicale_writes_it(name: str) -> None:
    if not pathutils.is_safe_path_component(name):
        return  # never a stored member's name
    for path in ("bench/meetings", "anna/my calendar", "ø/x&y"):
        expected = listing._escape(xmlutils.make_href("", pathutils.unstrip_path(posixpath.join(path, name))))
        assert listing._href_of(path, name) == expected


LINE = st.sampled_from(["SUMMARY:a\rb", "X:\r", "BEGIN:VTIMEZONE\r", "TZID:A\rB", "TZID:A", "BEGIN:STANDARD",
                        "END:STANDARD", "X:1\nEND:VEVENT", "BEGIN:VTIMEZONEX", "END:VTIMEZONE\r", "TZID:\r"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["VEVENT", "VTIMEZONE", "VTODO"]), st.lists(LINE, max_size=4)),
                max_size=4), st.integers(min_value=1, max_value=3))
def test_the_quick_merge_takes_bare_line_breaks_as_radicale_does(blocks: list[tuple[str, list[str]]],
                                                               copies: int) -> None:
    """Calendars that end and nest properly (the quick path's own), with bare
    CRs and LFs inside their lines: Radicale splits lines at CRLF alone."""
    lines = ["BEGIN:VCALENDAR", "PRODID:x"]
    for name, body in blocks:
        lines += [f"BEGIN:{name}", *body, f"END:{name}"]
    text = "\r\n".join([*lines, "END:VCALENDAR"]) + "\r\n"
    texts = [text] * copies
    assert listing.collection_text(texts, None, None) == _radicale(texts)
