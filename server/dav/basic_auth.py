"""The ``Authorization: Basic`` header, read once and strictly (RFC 7617).

Radicale decodes the header itself and answers 500 when it is not base64,
has no colon or is not ASCII. The application reads it first
(:func:`normalize`): a malformed Basic header is answered 401 before Radicale
or any of our paths sees it, and a good one is handed on in one canonical
form (scheme ``Basic``, base64 of UTF-8), so Radicale, the PUT path and the
scheduling paths all read the same credentials. The scheme is matched
without regard to case (RFC 7235 2.1), which Radicale does not do.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any


class Malformed(ValueError):
    """A Basic header whose credentials cannot be read."""


def credentials(environ: dict[str, Any]) -> tuple[str, str] | None:
    """The request's Basic credentials (login, password), or None: absent or malformed."""
    try:
        return parse(environ.get("HTTP_AUTHORIZATION", ""))
    except Malformed:
        return None


def parse(header: str) -> tuple[str, str] | None:
    """The login and password of a Basic header; None for no header or
    another scheme. Raises :class:`Malformed` for a Basic header that is not
    base64 of ``login:password`` in UTF-8 with a login."""
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        raw = base64.b64decode(rest.strip().encode("ascii"), validate=True)
        text = raw.decode("utf-8")
    except (UnicodeError, binascii.Error):
        raise Malformed("the Basic credentials are not base64 of UTF-8") from None
    login, colon, password = text.partition(":")
    if not colon or not login:
        raise Malformed("the Basic credentials are not login:password")
    if any(ord(c) < 0x20 or c == "\x7f" for c in text):
        raise Malformed("the Basic credentials hold control characters")
    return login, password


def normalize(environ: dict[str, Any]) -> bool:
    """Rewrite ``HTTP_AUTHORIZATION`` in its canonical form; False when it
    is a malformed Basic header (answer 401). Another scheme is dropped (the
    request is anonymous): Radicale would read ``Basicx`` as Basic."""
    header = environ.get("HTTP_AUTHORIZATION")
    if header is None:
        return True
    try:
        found = parse(header)
    except Malformed:
        return False
    if found is None:
        del environ["HTTP_AUTHORIZATION"]  # no other scheme is supported: anonymous
    else:
        token = base64.b64encode(f"{found[0]}:{found[1]}".encode()).decode("ascii")
        environ["HTTP_AUTHORIZATION"] = f"Basic {token}"
    return True


def unauthorized(configuration: Any) -> tuple[str, list[tuple[str, str]], bytes]:
    """The 401 for a malformed Basic header, with Radicale's realm (its ``configuration``)."""
    realm = configuration.get("auth", "realm")
    return ("401 Unauthorized", [("Content-Type", "text/plain; charset=utf-8"),
                                 ("WWW-Authenticate", f'Basic realm="{realm}", charset="UTF-8"')],
            b"The Basic credentials cannot be read\n")
