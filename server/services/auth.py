"""Logins: password hashes, and checking a client's credentials.

One function, :func:`authenticate`, decides every login: Radicale's auth
plugin and the paths that answer without Radicale (the PUT, the outbox, the
free-busy REPORT) all call it. Where passwords live is a setting
(:func:`configure`): the store (each user's hash) or an htpasswd file
(:mod:`server.services.htpasswd`); either way the login must be a user of
the store, which owns the calendars.

Hashes are argon2id (RFC 9106) with one of the parameter sets OWASP's
Password Storage Cheat Sheet rates as equally strong: 7 MiB, five passes, one
lane (rather than 19 MiB and two passes). About 27 ms a verify on a two-core
machine, and 7 MiB touched instead of 19: every concurrent login adds that to
the process's peak memory, and the first login of a fresh process was most of
its peak at 10,000 follow-ups (``docs/memory.md``). A hash
made with other parameters, or with the scrypt this project used before,
still verifies, and the next successful login replaces it with a current
one (:func:`needs_rehash`).

CalDAV clients send Basic credentials with every request, so a success is
remembered for five minutes, keyed by a salted digest of the password and
the stored hash or htpasswd line (a changed password invalidates it at once).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from dataclasses import dataclass

import argon2
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from server.config import ConfigError, Settings
from server.services.htpasswd import HtpasswdFile
from server.services.htpasswd import verify as verify_htpasswd
from server.services.lru import Lru
from server.services.transaction import transaction
from store import db
from store.calendar import CalendarReader
from store.domain import Source
from store.errors import InvalidFollowup

log = logging.getLogger("followups.auth")

HASHER = argon2.PasswordHasher(time_cost=5, memory_cost=7168, parallelism=1, type=argon2.Type.ID)
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
VERIFIED_SECONDS = 300.0
VERIFIED: Lru[tuple[str, str], tuple[str, float]] = Lru(10_000)
"""Recent successful logins and until when they hold; bounded by ``login_cache_entries``."""
REFUSED_SECONDS = 10.0
REFUSED: Lru[tuple[str, str], float] = Lru(10_000)
"""Passwords refused in the last seconds (the same salted key: login, password
and the hash they were checked against), and until when: a request that our
layer refuses goes on to Radicale, whose auth plugin asks again at once, and a
wrong password is hashed once, not twice. Never read as an acceptance;
bounded by ``login_cache_entries``."""
_SALT = secrets.token_bytes(16)


@dataclass(frozen=True)
class Backend:
    """Where passwords are checked: the store, or ``htpasswd`` when set."""

    htpasswd: HtpasswdFile | None = None


_BACKEND = Backend()


def configure(settings: Settings) -> None:
    """Check logins the way ``settings`` say (``auth``, ``htpasswd_file``), for
    this whole process: the server calls it once, before it answers anything.
    Raises :class:`ConfigError` for an htpasswd file that cannot be read."""
    global _BACKEND
    if settings.auth != "htpasswd":
        _BACKEND = Backend()
        return
    if not settings.htpasswd_file:
        raise ConfigError("auth = htpasswd needs htpasswd_file")
    htpasswd = HtpasswdFile(settings.htpasswd_file)
    try:
        htpasswd.load()
    except OSError:
        raise ConfigError(f"htpasswd_file {settings.htpasswd_file} cannot be read") from None
    _BACKEND = Backend(htpasswd)


def hash_password(password: str) -> str:
    if not password:
        raise InvalidFollowup("the password is empty")
    return HASHER.hash(password)


def check_password(stored: str | None, password: str) -> bool:
    """Whether ``password`` matches a stored hash: argon2, or the older scrypt."""
    if not stored:
        return False
    if stored.startswith("scrypt$"):
        _, salt, digest = stored.split("$", 2)
        candidate = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), dklen=32, **_SCRYPT)  # type: ignore[arg-type]
        return hmac.compare_digest(candidate.hex(), digest)
    try:
        return HASHER.verify(stored, password)
    except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    """Whether a stored hash (that verified) should be made again: scrypt, or argon2 with other parameters."""
    return stored.startswith("scrypt$") or HASHER.check_needs_rehash(stored)


def _verified_key(login: str, password: str, stored: str) -> tuple[str, str]:
    return login, hashlib.sha256(_SALT + password.encode() + b"\0" + stored.encode()).hexdigest()


def _stored(conn: Connection, login: str) -> str | None:
    """What the login's password is checked against, under the configured back-end."""
    reader = CalendarReader(conn)
    htpasswd = _BACKEND.htpasswd
    if htpasswd is None:
        return reader.password_hash(login)
    return htpasswd.digest(login) if reader.user(login) is not None else None


def _check(stored: str, password: str) -> bool:
    if _BACKEND.htpasswd is not None:
        return verify_htpasswd(stored, password)
    return check_password(stored, password)


def _upgrade(engine: Engine, login: str, stored: str, password: str) -> str:
    """Replace a verified ``stored`` hash by a current one, in a short write
    transaction (hashed before it opens); the hash stored afterwards. A store
    that cannot be written now (read-only, locked) keeps the old hash, and
    the login still succeeds; a password changed meanwhile is never undone."""
    fresh = hash_password(password)
    try:
        with transaction(engine, actor=login, source=Source.CLIENT) as uow:
            replaced = uow.users.replace_password_hash(login, stored, fresh)
            uow.commit()
    except SQLAlchemyError as exc:
        log.warning("could not upgrade the password hash of %s (%s); kept the old one", login, type(exc).__name__)
        return stored
    return fresh if replaced else stored


def authenticate(engine: Engine, login: str, password: str) -> bool:
    """Check a login (remembered, see the module), upgrading an old hash."""
    if not login or not password:
        return False
    with db.reading(engine) as conn:
        stored = _stored(conn, login)
    if not stored:
        return False
    now = time.monotonic()
    key = _verified_key(login, password, stored)
    hit = VERIFIED.get(key)
    if hit is not None and hit[1] > now:
        return True
    refused = REFUSED.get(key)
    if refused is not None and refused > now:
        return False
    if not _check(stored, password):
        REFUSED.put(key, now + REFUSED_SECONDS)
        return False
    if _BACKEND.htpasswd is None and needs_rehash(stored):
        stored = _upgrade(engine, login, stored, password)
    VERIFIED.put(_verified_key(login, password, stored), (stored, now + VERIFIED_SECONDS))
    return True


def stored_secret(engine: Engine, login: str) -> str | None:
    """What ``login``'s password is checked against now (its hash, or its
    htpasswd line), or None: a secret only the server reads, the same in every
    process, that changes with the password (the user page keys its form
    tokens with it)."""
    with db.reading(engine) as conn:
        return _stored(conn, login)


def recently_verified(conn: Connection, login: str, password: str) -> bool:
    """Whether :func:`authenticate` accepted these credentials in the last
    five minutes against the hash stored now, read on ``conn`` (inside the
    caller's transaction). Never hashes: a writer asks this first and
    authenticates outside its transaction only when the answer is no."""
    stored = _stored(conn, login)
    if not stored:
        return False
    hit = VERIFIED.get(_verified_key(login, password, stored))
    return hit is not None and hit[1] > time.monotonic()
