"""PUT of a calendar object, answered without Radicale's generic PUT path.

Radicale's PUT parses the body with vobject and serializes it again, opens a
read transaction for each of its look-ups and then calls the storage plugin
that parses it once more: about a third of a PUT's time, for a body this
layer has already parsed and checked. For an authenticated user writing into
their own calendar (``calendars.may_write``), the whole PUT (preconditions,
UID conflict, the write) is one :class:`~server.services.calendars.WriteRequest`
here. Everything else (a missing or wrong login, someone else's calendar, an
unsafe name) goes on to Radicale, which answers it with its own rules and
delays; the storage plugin applies the same rules there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from radicale import pathutils
from sqlalchemy import Engine

from server.dav import basic_auth, errors
from server.services import auth, calendars
from server.services.errors import NotFound


class _Unverified(Exception):
    """The login was not checked recently: check it outside the transaction."""


Write = Callable[[calendars.WriteRequest], errors.Response | None]


def as_owner(engine: Engine, principal: str, found: tuple[str, str], write: Write) -> errors.Response | None:
    """``write`` in one write transaction of ``principal``'s, once the login
    ``found`` is known good: its response, or None (Radicale answers).

    A password is checked (argon2, tens of milliseconds) outside the write
    transaction, never with its lock held: inside it, a login is only looked
    up among those checked in the last minutes. Shared by PUT and DELETE
    (``server.dav.delete``)."""

    def attempt() -> errors.Response | None:
        with calendars.WriteRequest(engine, principal, principal) as request:
            if not request.verified(*found):
                raise _Unverified
            return write(request)

    try:
        return attempt()
    except _Unverified:
        pass
    if not auth.authenticate(engine, *found):
        return None  # Radicale refuses it, with its delay for failed logins
    try:
        return attempt()
    except _Unverified:
        return None  # the password changed in between: Radicale answers


def _write(environ: dict[str, Any], parts: list[str], raw: bytes, cal: Any,
           request: calendars.WriteRequest) -> errors.Response | None:
    """The PUT in the request's transaction: its response, or None (Radicale answers)."""
    principal, name, href = parts
    sent = raw.decode("utf-8")
    try:
        stored, replaced = request.run(lambda uow, user: calendars.put(
            uow, principal, name, href, sent, user, cal, if_match=environ.get("HTTP_IF_MATCH", ""),
            if_none_match=environ.get("HTTP_IF_NONE_MATCH", "") == "*"))
    except NotFound:
        return None  # no such calendar: Radicale's answer
    except errors.ANSWERED as exc:
        return errors.response(exc)
    headers = [("ETag", stored.etag)] if stored is not None and calendars.same_text(stored.text, sent) else []
    return ("204 No Content" if replaced else "201 Created"), headers, b""


def handle(engine: Engine, environ: dict[str, Any], parts: list[str], raw: bytes, cal: Any) -> errors.Response | None:
    """The answer to a PUT of ``raw`` (parsed: ``cal``) at /parts[0]/parts[1]/parts[2],
    or None to let Radicale answer it."""
    principal, name, href = parts
    found = basic_auth.credentials(environ)
    if (found is None or not calendars.may_write(found[0], principal, name)
            or not pathutils.is_safe_filesystem_path_component(href)):
        return None
    return as_owner(engine, principal, found, lambda request: _write(environ, parts, raw, cal, request))
