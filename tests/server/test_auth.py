"""Logins: argon2id hashes, old hashes upgraded at the next login, logins
checked against an htpasswd file, and a malformed Basic header answered 401.

Regression: ``Authorization: Basic !!!`` (and every header Radicale could not
decode) answered 500.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import argon2
import bcrypt
import pytest
import requests
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import SQLAlchemyError

from server import config
from server.services import auth
from server.services import followups as services
from server.services.htpasswd import verify
from store.domain import User
from tests.server.caldav_support import PASSWORD, LiveServer, add_people, start_server, stop_server, vevent

# Known vectors: Drepper's SHA-crypt specification ("Hello world!") and Apache's htpasswd documentation (APR1).
SHA512_VECTOR = ("Hello world!", "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiB"
                                 "FdcbYEdFCoEOfaS35inz1")
APR1_VECTOR = ("myPassword", "$apr1$qHDFfhPC$nITSVHgYbDAK1Y0acGRnY0")


def scrypt_hash(password: str) -> str:
    """A hash as this project stored them before argon2 (``scrypt$salt$digest``)."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    return f"scrypt${salt.hex()}${digest.hex()}"


def set_hash(engine: Engine, login: str, stored: str) -> None:
    def change(user: User) -> None:
        user.password_hash = stored

    services.update_user(engine, login, change)


def stored_hash(engine: Engine, login: str) -> str:
    with engine.connect() as conn:
        from store.calendar import CalendarReader

        found = CalendarReader(conn).password_hash(login)
    assert found is not None
    return found


@pytest.fixture
def people(engine: Engine) -> Engine:
    add_people(engine)
    return engine


def test_new_hashes_are_argon2id_with_the_current_parameters() -> None:
    stored = auth.hash_password("correct horse")
    assert stored.startswith("$argon2id$v=19$m=7168,t=5,p=1$")
    assert auth.check_password(stored, "correct horse")
    assert not auth.check_password(stored, "correct horsE")
    assert not auth.needs_rehash(stored)
    assert auth.hash_password("correct horse") != stored  # salted


def test_a_refused_password_is_hashed_once_and_never_taken_for_an_accepted_one(
        people: Engine, password_checks: list[str]) -> None:
    """A request our layer refuses goes on to Radicale, whose auth plugin asks
    again at once: the second answer comes from the refusal just remembered.
    A refusal is never an acceptance (the write path's ``recently_verified``),
    the right password still logs in at once, and a new hash forgets it."""
    checks = password_checks
    assert not auth.authenticate(people, "anna", "wrong") and not auth.authenticate(people, "anna", "wrong")
    assert checks == ["wrong"]
    with people.connect() as conn:
        assert not auth.recently_verified(conn, "anna", "wrong")
    assert auth.authenticate(people, "anna", PASSWORD) and checks == ["wrong", PASSWORD]
    set_hash(people, "anna", auth.hash_password("wrong"))  # "wrong" is her password now
    assert auth.authenticate(people, "anna", "wrong") and checks == ["wrong", PASSWORD, "wrong"]


def test_old_hashes_are_upgraded_at_the_next_login(people: Engine) -> None:
    old = scrypt_hash("s3cret")
    set_hash(people, "anna", old)
    assert auth.check_password(old, "s3cret") and auth.needs_rehash(old)

    assert not auth.authenticate(people, "anna", "wrong")
    assert stored_hash(people, "anna") == old, "a failed login changes nothing"

    assert auth.authenticate(people, "anna", "s3cret")
    new = stored_hash(people, "anna")
    assert new.startswith("$argon2id$") and auth.check_password(new, "s3cret") and not auth.needs_rehash(new)
    with people.connect() as conn:
        assert auth.recently_verified(conn, "anna", "s3cret"), "the cache follows the upgraded hash"
    assert auth.authenticate(people, "anna", "s3cret")
    assert stored_hash(people, "anna") == new

    # argon2 made with other parameters is made again too: cheaper ones, and the
    # 19 MiB / two passes of earlier versions
    earlier = argon2.PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1).hash("s3cret")
    assert auth.check_password(earlier, "s3cret") and auth.needs_rehash(earlier)
    older = argon2.PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash("s3cret")
    set_hash(people, "bjorn", older)
    assert auth.needs_rehash(older)
    assert auth.authenticate(people, "bjorn", "s3cret")
    assert stored_hash(people, "bjorn").startswith("$argon2id$v=19$m=7168,t=5,p=1$")

    # a password changed between the check and the upgrade is never undone
    set_hash(people, "bjorn", older)
    services.set_password(people, "bjorn", "changed")
    changed = stored_hash(people, "bjorn")
    assert auth._upgrade(people, "bjorn", older, "s3cret") == older
    assert stored_hash(people, "bjorn") == changed

    # a changed password is not remembered
    services.set_password(people, "anna", "another one")
    assert not auth.authenticate(people, "anna", "s3cret")
    with people.connect() as conn:
        assert not auth.recently_verified(conn, "anna", "s3cret")
    assert auth.authenticate(people, "anna", "another one")


def test_a_login_on_a_read_only_store_keeps_the_old_hash(people: Engine, db_url: str) -> None:
    """The upgrade is a write; a store that cannot be written now still lets the user in."""
    old = scrypt_hash("s3cret")
    set_hash(people, "anna", old)
    read_only = create_engine(people.url)

    @event.listens_for(read_only, "connect")
    def _read_only(dbapi_conn: object, _record: object) -> None:
        cursor = dbapi_conn.cursor()  # type: ignore[attr-defined]
        cursor.execute("PRAGMA query_only = ON" if db_url.startswith("sqlite")
                       else "SET default_transaction_read_only = on")
        cursor.close()
        dbapi_conn.commit()  # type: ignore[attr-defined]  # PostgreSQL's SET is transactional

    try:
        with pytest.raises(SQLAlchemyError):  # the engine refuses writes indeed
            with read_only.begin() as conn:
                conn.exec_driver_sql("UPDATE users SET name = name")
        assert auth.authenticate(read_only, "anna", "s3cret")
        assert stored_hash(people, "anna") == old
    finally:
        read_only.dispose()


# -- over HTTP ------------------------------------------------------------------------

MALFORMED = ["Basic !!!", "Basic", "Basic ", "Basic YW5uYQ==", "Basic YW5uYTpzZWNyZXQ", "Basic //79",
             "Basic " + base64.b64encode(b"\xff\xfe:x").decode(), "Basic " + base64.b64encode(b":secret").decode(),
             "Basic " + base64.b64encode(b"an\x00na:secret").decode(), "Basic YW5uYTpzZWNyZXQ=\u00e6",
             "Basicx YW5uYTpzZWNyZXQ="]


def test_malformed_basic_headers_and_scrypt_logins_over_http(live: LiveServer) -> None:
    """Every header Radicale's own decoding choked on, on every path that reads credentials."""
    probes = [("PROPFIND", "anna/", b""), ("GET", "", b""), ("PUT", "anna/meetings/x.ics", vevent("x").encode()),
              ("REPORT", "anna/meetings/", b"<x/>"), ("POST", "anna/outbox/", b"BEGIN:VCALENDAR")]
    for header in MALFORMED:
        for method, path, body in probes:
            r = requests.request(method, live.url + path, data=body, timeout=30,
                                 headers={"Authorization": header.encode("latin-1"), "Depth": "0"})
            if header.startswith("Basicx"):  # not the Basic scheme: an anonymous request
                assert r.status_code in {200, 401, 403, 405}, (header, method, r.status_code)
            else:
                assert r.status_code == 401, (header, method, r.status_code, r.text)
                assert r.headers["WWW-Authenticate"].startswith("Basic realm=")
    # the scheme is case-insensitive (RFC 7235 2.1), on Radicale's paths as on ours
    token = base64.b64encode(f"anna:{PASSWORD}".encode()).decode()
    r = requests.request("PROPFIND", live.url + "anna/", headers={"Authorization": f"basic {token}", "Depth": "0"},
                         timeout=30)
    assert r.status_code == 207

    # a user with a scrypt hash logs in (our PUT path, then Radicale's) and is upgraded
    set_hash(live.engine, "bjorn", scrypt_hash(PASSWORD))
    assert live.dav("bjorn").put("bjorn/meetings/up.ics", vevent("up")).status_code == 201
    assert stored_hash(live.engine, "bjorn").startswith("$argon2id$")
    assert live.dav("bjorn").propfind("bjorn/", "<D:displayname/>").status_code == 207


# -- htpasswd -------------------------------------------------------------------------


def _bcrypt_line(login: str, password: str) -> str:
    digest = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
    return f"{login}:$2y${digest[4:]}"  # as Apache's htpasswd -B writes it


@pytest.fixture
def htpasswd_live(db_url: str, tmp_path: Path) -> Iterator[tuple[LiveServer, Path]]:
    """A server whose logins are checked in an htpasswd file: anna (bcrypt), bjorn
    (SHA-512 crypt), carl (in the file, not in the store), dora (plaintext)."""
    path = tmp_path / "htpasswd"
    path.write_text("\n".join([
        "# the site's logins", _bcrypt_line("anna", "anna-pw"), f"bjorn:{SHA512_VECTOR[1]}",
        _bcrypt_line("carl", "carl-pw"), "dora:dora-pw", ""]), encoding="utf-8")
    server, thread, httpd = start_server(db_url, auth="htpasswd", htpasswd_file=str(path))
    add_people(server.engine)
    services.add_user(server.engine, User("dora", "Dora", "dora@example.com"), "dora-pw")
    try:
        yield server, path
    finally:
        stop_server(server, thread, httpd)
        auth.configure(config.Settings(database=db_url, host="127.0.0.1", port=0, max_body=1, log_level="error",
                                       auth_delay=0.0))


def _status(live: LiveServer, login: str, password: str, method: str = "PROPFIND", body: str = "") -> int:
    path = f"{login}/" if method == "PROPFIND" else f"{login}/meetings/{secrets.token_hex(4)}.ics"
    headers = {"Depth": "0"} if method == "PROPFIND" else {"Content-Type": "text/calendar"}
    return requests.request(method, live.url + path, data=body.encode(), auth=(login, password), headers=headers,
                            timeout=30).status_code


def test_htpasswd_logins(htpasswd_live: tuple[LiveServer, Path]) -> None:
    live, path = htpasswd_live
    assert _status(live, "anna", "anna-pw") == 207
    assert _status(live, "anna", PASSWORD) == 401, "the store's password is not asked"
    assert _status(live, "bjorn", SHA512_VECTOR[0]) == 207
    assert _status(live, "bjorn", "Hello world") == 401
    assert _status(live, "carl", "carl-pw") == 401, "not a user of the store"
    assert _status(live, "dora", "dora-pw") == 401, "a plaintext line never logs in"
    # our own PUT path decides with the same back-end
    assert _status(live, "anna", "anna-pw", "PUT", vevent("h1")) == 201
    assert _status(live, "anna", PASSWORD, "PUT", vevent("h2")) == 401

    # the administrator changes anna's password and adds APR1 for bjorn: the next request sees it
    path.write_text("\n".join([_bcrypt_line("anna", "new-pw"), f"bjorn:{APR1_VECTOR[1]}", ""]), encoding="utf-8")
    later = path.stat().st_mtime_ns + 2_000_000_000
    os.utime(path, ns=(later, later))
    assert _status(live, "anna", "anna-pw") == 401
    assert _status(live, "anna", "new-pw") == 207
    assert _status(live, "bjorn", APR1_VECTOR[0]) == 207
    assert _status(live, "bjorn", SHA512_VECTOR[0]) == 401


def test_htpasswd_formats() -> None:
    """Each scheme the module reads, from known vectors or the libraries that make them."""
    assert verify(SHA512_VECTOR[1], SHA512_VECTOR[0]) and not verify(SHA512_VECTOR[1], "hello world!")
    assert verify(APR1_VECTOR[1], APR1_VECTOR[0]) and not verify(APR1_VECTOR[1], "mypassword")
    sha256 = "$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5"  # the SHA-crypt specification's
    assert verify(sha256, "Hello world!") and not verify(sha256, "Hello world")
    digest = bcrypt.hashpw(b"pw", bcrypt.gensalt(rounds=4)).decode()
    for prefix in ("$2a$", "$2b$", "$2y$"):
        assert verify(prefix + digest[4:], "pw") and not verify(prefix + digest[4:], "pW")
    assert verify(bcrypt.hashpw(b"x" * 72, bcrypt.gensalt(rounds=4)).decode(), "x" * 80), "cut at 72 bytes"
    for kind in (argon2.Type.ID, argon2.Type.I):
        made = argon2.PasswordHasher(time_cost=1, memory_cost=8192, type=kind).hash("pw")
        assert verify(made, "pw") and not verify(made, "pw ")
    for refused in ("pw", "{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=", "$6$broken", "$2y$04$short", "$argon2id$nonsense"):
        assert not verify(refused, "pw")
