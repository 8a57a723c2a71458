"""Logins checked against an htpasswd file, for sites that keep their
passwords there (the ``auth = htpasswd`` setting).

The formats are those Apache's ``htpasswd`` writes, less the weak ones:
bcrypt (``$2y$``, ``$2b$``, ``$2a$``), SHA-512 and SHA-256 crypt (``$6$``,
``$5$``), APR1 MD5 (``$apr1$``, htpasswd's old default) and argon2
(``$argon2id$`` ...). A plaintext line (``htpasswd -p``), DES crypt or
``{SHA}`` never logs in: a file that can be read is then a list of
passwords, or nearly.

The file is read again when it changes (its mtime, size or inode), so an
administrator's ``htpasswd`` takes effect at the next request, in every
process.
"""

from __future__ import annotations

import logging
import os
import threading

import argon2
import bcrypt
from passlib.hash import apr_md5_crypt, sha256_crypt, sha512_crypt

log = logging.getLogger("followups.auth")

BCRYPT_MAX_BYTES = 72
"""bcrypt reads at most 72 bytes of a password; Apache's htpasswd cuts it
there too, so a longer password matches its own line."""

_PREFIXES = ("$2y$", "$2b$", "$2a$", "$6$", "$5$", "$apr1$", "$argon2")
_ARGON2 = argon2.PasswordHasher()


def supported(digest: str) -> bool:
    """Whether a line's digest is one this module verifies (plaintext is not)."""
    return digest.startswith(_PREFIXES)


def verify(digest: str, password: str) -> bool:
    """Whether ``password`` matches an htpasswd ``digest``; False for any
    digest that is malformed or of an unsupported kind."""
    secret = password.encode("utf-8")
    try:
        if digest.startswith(("$2y$", "$2b$", "$2a$")):
            return bcrypt.checkpw(secret[:BCRYPT_MAX_BYTES], digest.encode("ascii"))
        if digest.startswith("$6$"):
            return bool(sha512_crypt.verify(password, digest))
        if digest.startswith("$5$"):
            return bool(sha256_crypt.verify(password, digest))
        if digest.startswith("$apr1$"):
            return bool(apr_md5_crypt.verify(password, digest))
        if digest.startswith("$argon2"):
            return _ARGON2.verify(digest, password)
    except (ValueError, TypeError, UnicodeEncodeError, argon2.exceptions.VerificationError,
            argon2.exceptions.InvalidHashError):
        return False
    return False


class HtpasswdFile:
    """The logins and digests of one htpasswd file, read again when it changes."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._digests: dict[str, str] = {}

    def load(self) -> None:
        """Read the file now; an unreadable file is an error (for startup)."""
        with self._lock:
            stamp = self._stat()
            if stamp is None:
                raise OSError(f"cannot read the htpasswd file {self.path}")
            self._read(stamp)

    def digest(self, login: str) -> str | None:
        """The login's digest, when its line is one that may log in."""
        with self._lock:
            stamp = self._stat()
            if stamp != self._stamp:
                self._read(stamp)
            return self._digests.get(login)

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size, st.st_ino

    def _read(self, stamp: tuple[int, int, int] | None) -> None:
        """Parse the file; a line that cannot log in is named in the log (by
        login and line number, never its digest) and left out."""
        digests: dict[str, str] = {}
        try:
            with open(self.path, encoding="utf-8") as handle:
                lines = handle.read().splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            log.warning("htpasswd file %s unreadable (%s): no login is accepted", self.path, type(exc).__name__)
            lines = []
        for number, line in enumerate(lines, 1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            login, colon, digest = text.partition(":")
            digest = digest.strip()
            if not colon or not login:
                log.warning("htpasswd file %s line %d: not login:digest, ignored", self.path, number)
            elif not supported(digest):
                log.warning("htpasswd file %s line %d (%s): plaintext or an unsupported scheme, ignored",
                            self.path, number, login)
            elif login in digests:
                log.warning("htpasswd file %s line %d (%s): a second line for that login, ignored",
                            self.path, number, login)
            else:
                digests[login] = digest
        self._digests = digests
        self._stamp = stamp
