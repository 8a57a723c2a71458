"""How Radicale writes its answers, for the answers our layer gives in its
place (``server.dav.listing``, ``server.dav.delete``): the same XML
serialization and the same gzip, so a client cannot tell who answered."""

from __future__ import annotations

import io
import zlib
from typing import Any
from xml.etree import ElementTree as ET

ENCODING = "utf-8"


def write_xml(root: ET.Element) -> bytes:
    """``root`` serialized as Radicale serializes its answers (``_xml_response``)."""
    f = io.BytesIO()
    ET.ElementTree(root).write(f, encoding=ENCODING, xml_declaration=True)
    return f.getvalue()


def gzip_if_accepted(environ: dict[str, Any], body: bytes,
                     headers: list[tuple[str, str]]) -> tuple[bytes, list[tuple[str, str]]]:
    """``body`` gzipped, with its Content-Encoding, when the request's
    Accept-Encoding names ``gzip`` as Radicale reads it (an exact item of the
    comma-separated list); otherwise as it was."""
    if not accepts_gzip(environ):
        return body, headers
    compressor = zlib.compressobj(wbits=16 + zlib.MAX_WBITS)
    return compressor.compress(body) + compressor.flush(), headers + [("Content-Encoding", "gzip")]


def accepts_gzip(environ: dict[str, Any]) -> bool:
    """Whether Radicale would gzip its answer to this request."""
    return "gzip" in [e.strip() for e in environ.get("HTTP_ACCEPT_ENCODING", "").split(",") if e.strip()]
