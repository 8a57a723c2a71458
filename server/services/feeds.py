"""Subscription feeds: a secret URL that a calendar app polls without a login.

A feed reads one user's meetings, tasks or both, or the Activities of a
company, person, sale or project, within a window of days around today (in
the owner's time zone, on the day it is fetched). Private follow-ups are
masked unless the feed's owner may see them in full: the export runs with the
owner as its viewer (calendar-mapping.md, "Feeds, export and import").

The URL's token is the only credential, so it is made of 256 random bits
(``secrets.token_urlsafe(32)``) and only its SHA-256 is stored: the token is
shown once, when the feed is made, and cannot be shown again (revoke the feed
and make a new one). A plain hash suffices where a password needs a slow
one: the token is random, not guessable, so there is nothing to brute-force.

A feed made from the user's page takes its token from the form instead
(:func:`form_feed_token`): an HMAC, keyed by a secret only the server reads,
of a random value the page put in the form. The same form sent again (a
reload of the page that showed the new feed) then names the same token, and
finds the feed it made instead of making a second one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import re
import secrets
import socket
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from server.config import Settings
from server.services import export
from server.services.lru import Lru
from server.services.transaction import retried, transaction
from store.errors import InvalidFollowup, NotFound
from store.feeds import StoredFeed
from store.localtime import utcnow

WHATS = ("meetings", "tasks", "all", "company", "person", "sale", "project")
RECORD_WHATS = WHATS[3:]
LABELS = {"meetings": "Meetings", "tasks": "To-dos and calls", "all": "Everything"}
MAX_WINDOW_DAYS = 1830
"""Longest window (about five years): a feed is fetched without a login, again and again, so
what one fetch may have to render stays bounded (with ``max_feed_objects``)."""
TOKEN_BYTES = 32
"""Random bytes in a token (256 bits; the issue asks for at least 128)."""
BODIES: Lru[tuple[str, int, str, str], bytes] = Lru(32 * 1024 * 1024, weigh=len)
"""Rendered feed bodies by (database, feed id, ETag, encoding), at most ``feed_cache_mb``
bytes in all (:mod:`server.services.caches`), so clients that poll without
validators do not re-render an unchanged feed."""
WHAT_HELP = "meetings, tasks, all, or company:ID, person:ID, sale:ID, project:ID"


@dataclass(frozen=True)
class Feed:
    id: int
    owner: str
    what: str
    record_id: int | None
    from_days: int
    to_days: int
    created_at: datetime
    revoked_at: datetime | None
    label: str
    """For people: "Meetings", "To-dos and calls", "Everything", "Activities of Acme AS"."""
    tz: str = "UTC"
    """The owner's time zone: the window is counted from today there."""

    @property
    def window(self) -> str:
        """The window as ``--from``/``--to`` take it: "-30d to +365d"."""
        return f"{self.from_days:+d}d to {self.to_days:+d}d"

    def as_dict(self) -> dict[str, Any]:
        """Stable JSON for ``followups feed list --json`` and the page (never a token)."""
        return {"id": self.id, "owner": self.owner, "what": self.what, "record_id": self.record_id,
                "label": self.label, "from_days": self.from_days, "to_days": self.to_days,
                "created_at": self.created_at.isoformat(),
                "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None}


def token_hash(token: str) -> str:
    """The SHA-256 (hex) of a token as given: any text, whatever its length or characters."""
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def parse_what(text: str) -> tuple[str, int | None]:
    """``"company:12"`` -> ``("company", 12)``, ``"meetings"`` -> ``("meetings", None)``."""
    kind, colon, rest = text.strip().lower().partition(":")
    if kind in RECORD_WHATS and colon:
        if rest.strip().isdigit() and int(rest) > 0:
            return kind, int(rest)
        raise InvalidFollowup(f"{kind}:{rest} needs a {kind}'s id, a positive whole number (e.g. {kind}:12)")
    if kind in RECORD_WHATS:
        raise InvalidFollowup(f"say which {kind}: {kind}:ID (see `followups {kind} list`)")
    if kind in WHATS and not colon:
        return kind, None
    raise InvalidFollowup(f"a feed shows {WHAT_HELP}; not {text!r}")


_DAYS = re.compile(r"^([+-]?)(\d{1,6})d?$")


def parse_days(text: str) -> int:
    """``"-30d"``, ``"+365d"``, ``"14"``: days from today."""
    found = _DAYS.match(text.strip().lower())
    if found is None:
        raise InvalidFollowup(f"{text!r} is not a number of days from today: use e.g. -30d or +365d")
    return -int(found.group(2)) if found.group(1) == "-" else int(found.group(2))


def check_window(from_days: int, to_days: int) -> None:
    if from_days > to_days:
        raise InvalidFollowup(f"the window starts after it ends ({from_days:+d}d to {to_days:+d}d): "
                              "--from must be at most --to")
    if to_days - from_days + 1 > MAX_WINDOW_DAYS or max(abs(from_days), abs(to_days)) > MAX_WINDOW_DAYS:
        raise InvalidFollowup(f"a feed covers at most {MAX_WINDOW_DAYS} days within {MAX_WINDOW_DAYS} days "
                              f"of today; {from_days:+d}d to {to_days:+d}d is more: narrow --from/--to")


def _record_name(uow: Any, what: str, record_id: int) -> str:
    """The record's name; NotFound that says where to look."""
    repo = {"company": uow.companies, "person": uow.persons, "sale": uow.sales, "project": uow.projects}[what]
    try:
        return str(repo.get(record_id).name)
    except NotFound:
        raise NotFound(f"no {what} with id {record_id} (see `followups {what} list`)") from None


def _label(uow: Any, what: str, record_id: int | None) -> str:
    if record_id is None:
        return LABELS[what]
    try:
        return f"Activities of {_record_name(uow, what, record_id)}"
    except NotFound:
        return f"Activities of {what} {record_id} (removed)"


def _feed(uow: Any, stored: StoredFeed) -> Feed:
    return Feed(stored.id, stored.owner, stored.what, stored.record_id, stored.from_days, stored.to_days,
                stored.created_at, stored.revoked_at, _label(uow, stored.what, stored.record_id), stored.tz)


class TooManyFeeds(InvalidFollowup):
    """The user has the most active feeds the server allows (``max_feeds``)."""


FORM_ONCE = re.compile(r"[A-Za-z0-9_-]{16,64}")
"""A page form's one-time value (``secrets.token_urlsafe(16)`` makes 22 characters)."""


def form_feed_token(secret: str, owner: str, once: str, what: str, from_days: int, to_days: int) -> str:
    """The token of the feed that a page form holding ``once`` (see
    :data:`FORM_ONCE`) makes for ``owner`` with these settings: 256 bits of
    HMAC-SHA-256 keyed by ``secret`` (the owner's stored password hash: only
    the server reads it), as URL-safe base64 like a random token. Unguessable
    without the key, whoever chose ``once``. The same form sent with other
    settings (back, change, send) names another token: another feed."""
    message = "\0".join(["followups-feed", owner, once, what, str(from_days), str(to_days)]).encode("utf-8")
    digest = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@retried
def create(engine: Engine, owner: str, what: str, record_id: int | None = None,
           from_days: int = -30, to_days: int = 365, token: str | None = None,
           limit: int | None = None) -> tuple[Feed, str]:
    """A new feed of ``owner``'s and its secret token (shown this once: only its hash is kept).

    ``token`` is the token a page form gives the feed (:func:`form_feed_token`);
    when ``owner`` has a feed with that token already (the form was sent again),
    that feed is returned and nothing is made. A form whose feed was revoked
    since is refused. Without ``token``, a random one. ``limit`` is the most
    active feeds ``owner`` may have (the setting ``max_feeds``): one more is
    refused (:class:`TooManyFeeds`)."""
    if what not in WHATS:
        raise InvalidFollowup(f"a feed shows {WHAT_HELP}; not {what!r}")
    if (record_id is None) != (what not in RECORD_WHATS):
        raise InvalidFollowup(f"a {what} feed {'needs' if what in RECORD_WHATS else 'takes no'} record id")
    check_window(from_days, to_days)
    token = token or secrets.token_urlsafe(TOKEN_BYTES)
    with transaction(engine, actor=owner) as uow:
        user = uow.users.by_login(owner)
        assert user.id is not None
        made = uow.feeds.by_token_hash(token_hash(token))
        if made is not None:
            if made.owner != owner:
                raise InvalidFollowup("this form is not from your page: reload the page and try again")
            if made.revoked_at is not None:
                raise InvalidFollowup("this form made a feed before, which has been revoked since: "
                                      "make a new one with the form below")
            return _feed(uow, made), token
        if limit is not None and (have := uow.feeds.count_active(user.id)) >= limit:
            raise TooManyFeeds(f"{owner} has {have} active feeds, the most this server allows (setting "
                               f"max_feeds = {limit}): revoke one first")
        if record_id is not None:
            _record_name(uow, what, record_id)
        stored = uow.feeds.add(user.id, token_hash(token), what, record_id, from_days, to_days, utcnow())
        feed = _feed(uow, stored)
        uow.commit()
    return feed, token


def feeds_of(engine: Engine, owner: str, include_revoked: bool = False) -> list[Feed]:
    """``owner``'s feeds, oldest first; revoked ones too with ``include_revoked``."""
    with transaction(engine, write=False) as uow:
        user = uow.users.by_login(owner)
        assert user.id is not None
        return [_feed(uow, s) for s in uow.feeds.of_user(user.id, include_revoked)]


@retried
def revoke_feed(engine: Engine, feed_id: int, owner: str | None = None) -> tuple[Feed, bool]:
    """Revoke feed ``feed_id`` (``owner``'s, when given): the feed, and whether it was not
    revoked already. NotFound when there is no such feed, or it is someone else's."""
    with transaction(engine, actor=owner or "system") as uow:
        try:
            stored = uow.feeds.get(feed_id)
        except NotFound:
            stored = None
        if stored is None or (owner is not None and stored.owner != owner):
            raise NotFound(f"no feed {feed_id}" + (f" of {owner}'s" if owner else "")
                           + f" (see `followups feed list {owner or 'USER'}`)")
        changed = uow.feeds.revoke(feed_id, utcnow())
        feed = _feed(uow, uow.feeds.get(feed_id))
        uow.commit()
    return feed, changed


def revoke(engine: Engine, feed_id: int, owner: str | None = None) -> Feed:
    """Revoke a feed (a no-op when it is already): its URL answers 404 from now on."""
    return revoke_feed(engine, feed_id, owner)[0]


def by_token(engine: Engine, token: str) -> Feed | None:
    """The live feed of ``token``, or None. Whatever ``token`` is (unknown, revoked,
    malformed), the work is the same: hash it and run one indexed query."""
    digest = token_hash(token)
    with transaction(engine, write=False) as uow:
        stored = uow.feeds.active(digest)
        return None if stored is None else _feed(uow, stored)


def window(feed: Feed, today: date | None = None) -> tuple[date, date]:
    """The feed's days as (first, end exclusive), counted from ``today`` in the owner's zone."""
    if today is None:
        today = datetime.now(ZoneInfo(feed.tz)).date()
    return today + timedelta(days=feed.from_days), today + timedelta(days=feed.to_days + 1)


def selection(feed: Feed, settings: Settings, today: date | None = None) -> export.Selection:
    """What a fetch of ``feed`` exports: as its owner sees it, within its window, at most
    ``settings.max_feed_objects`` follow-ups."""
    start, end = window(feed, today)
    if feed.record_id is None:
        return export.Selection(viewer=feed.owner, what=feed.what, owner=feed.owner, start=start, end=end,
                                limit=settings.max_feed_objects)
    return export.Selection(viewer=feed.owner, what=feed.what, record_id=feed.record_id, start=start, end=end,
                            limit=settings.max_feed_objects)


# -- URLs ---------------------------------------------------------------------------------------


def _host(host: str) -> str:
    """A host for a URL: a wildcard listen address names this machine; IPv6 in brackets."""
    if host in ("", "0.0.0.0", "::"):
        return socket.getfqdn()
    try:
        return f"[{host}]" if ipaddress.ip_address(host).version == 6 else host
    except ValueError:
        return host


def base_url(settings: Settings, environ: dict[str, Any] | None = None) -> str:
    """Where users reach the server, without a trailing slash: ``public_url`` when set, else the
    scheme and host the request came to, else ``http://HOST:PORT`` from the settings."""
    if settings.public_url:
        return settings.public_url.rstrip("/")
    if environ is not None:
        scheme = environ.get("wsgi.url_scheme", "http")
        host = environ.get("HTTP_HOST") or f"{environ.get('SERVER_NAME', 'localhost')}:{environ.get('SERVER_PORT')}"
        return f"{scheme}://{host}{environ.get('SCRIPT_NAME', '').rstrip('/')}"
    scheme = "https" if settings.certificate else "http"
    return f"{scheme}://{_host(settings.host)}:{settings.port}"


def urls(base: str, token: str) -> tuple[str, str]:
    """The feed's URL and its ``webcal://`` form (which calendar apps open as a subscription)."""
    url = f"{base.rstrip('/')}/feeds/{token}.ics"
    return url, "webcal://" + url.partition("://")[2]


def is_local(base: str) -> bool:
    """Whether ``base`` is this machine (loopback), where plain http is fine."""
    host = urlsplit(base).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
