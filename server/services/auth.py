"""Logins: password hashes, and checking a client's credentials.

CalDAV clients send Basic credentials with every request, and a scrypt costs
tens of milliseconds, so a success is remembered for five minutes, keyed by a
salted digest of the password and the stored hash (a changed password
invalidates it at once).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

from sqlalchemy import Connection, Engine

from store.calendar import CalendarReader
from store.errors import InvalidFollowup

_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
VERIFIED_SECONDS = 300.0
_VERIFIED: dict[tuple[str, str], tuple[str, float]] = {}
_SALT = secrets.token_bytes(16)


def hash_password(password: str) -> str:
    if not password:
        raise InvalidFollowup("the password is empty")
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)  # type: ignore[arg-type]
    return f"scrypt${salt.hex()}${digest.hex()}"


def check_password(stored: str | None, password: str) -> bool:
    if not stored or not stored.startswith("scrypt$"):
        return False
    _, salt, digest = stored.split("$", 2)
    candidate = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), dklen=32, **_SCRYPT)  # type: ignore[arg-type]
    return hmac.compare_digest(candidate.hex(), digest)


def _verified_key(login: str, password: str, stored: str) -> tuple[str, str]:
    return login, hashlib.sha256(_SALT + password.encode() + b"\0" + stored.encode()).hexdigest()


def authenticate(engine: Engine, login: str, password: str) -> bool:
    """Check a login against the stored hash (remembered, see the module)."""
    with engine.connect() as conn:
        stored = CalendarReader(conn).password_hash(login)
    if not stored:
        return False
    key = _verified_key(login, password, stored)
    now = time.monotonic()
    hit = _VERIFIED.get(key)
    if hit is not None and hit[1] > now:
        return True
    if not check_password(stored, password):
        return False
    if len(_VERIFIED) > 10_000:
        _VERIFIED.clear()
    _VERIFIED[key] = (stored, now + VERIFIED_SECONDS)
    return True


def recently_verified(conn: Connection, login: str, password: str) -> bool:
    """Whether :func:`authenticate` accepted these credentials in the last
    five minutes against the hash stored now, read on ``conn`` (inside the
    caller's transaction). Never runs scrypt: a writer asks this first and
    authenticates outside its transaction only when the answer is no."""
    stored = CalendarReader(conn).password_hash(login)
    if not stored:
        return False
    hit = _VERIFIED.get(_verified_key(login, password, stored))
    return hit is not None and hit[1] > time.monotonic()
