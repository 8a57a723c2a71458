"""Configuration as data: one schema with value, type and help for every
option; the config file, the command-line flags and the docs come from it.

Precedence, for every option and every command: command-line flag, then
environment variable, then the config file (``[followups]`` section, INI),
then the default. The config file is the one named by ``--config``, else by
``$FOLLOWUPS_CONFIG``, else the first of :data:`DEFAULT_FILES` that exists
(as Radicale reads ``/etc/radicale/config`` and ``~/.config/radicale/config``).
"""

from __future__ import annotations

import configparser
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CONFIG_ENV = "FOLLOWUPS_CONFIG"
DEFAULT_FILES: tuple[str, ...] = ("/etc/followup-caldav/config", "~/.config/followup-caldav/config")
DEFAULT_FILES_ENV = "FOLLOWUPS_DEFAULT_CONFIG_FILES"
"""Replaces :data:`DEFAULT_FILES` (paths joined by ``os.pathsep``; empty: none), so that a
test run does not depend on the machine's ``/etc`` or home directory."""

SECTION = "followups"

SCHEMA: dict[str, dict[str, Any]] = {
    "database": {
        "value": "",
        "type": str,
        "env": "FOLLOWUPS_DATABASE",
        "metavar": "URL",
        "global": True,
        "help": "the store: sqlite:///PATH, a file path, or postgresql://USER@HOST/DB (empty: a SQLite file in "
                "~/.local/share/followup-caldav)",
    },
    "host": {"value": "127.0.0.1", "type": str, "env": "FOLLOWUPS_HOST", "help": "address to listen on"},
    "port": {
        "value": 5232,
        "type": int,
        "env": "FOLLOWUPS_PORT",
        "min": 0,
        "max": 65535,
        "help": "TCP port to listen on (0: any free port)",
    },
    "max_body": {
        "value": 1_000_000,
        "type": int,
        "env": "FOLLOWUPS_MAX_BODY",
        "metavar": "BYTES",
        "min": 1,
        "help": "largest request body in bytes; larger ones are answered with 413",
    },
    "log_level": {
        "value": "warning",
        "type": str,
        "env": "FOLLOWUPS_LOG_LEVEL",
        "metavar": "LEVEL",
        "choices": ("debug", "info", "warning", "error", "critical"),
        "help": "Radicale's log level: debug, info, warning, error or critical",
    },
    "log_format": {
        "value": "text",
        "type": str,
        "env": "FOLLOWUPS_LOG_FORMAT",
        "metavar": "FORMAT",
        "choices": ("text", "json"),
        "help": "the request log (one line per request on stderr, at any log level): text, or json (one "
                "object per line)",
    },
    "auth_delay": {
        "value": 1.0,
        "type": float,
        "env": "FOLLOWUPS_AUTH_DELAY",
        "metavar": "SECONDS",
        "min": 0,
        "help": "seconds a failed login (and a 403) is delayed, against password guessing",
    },
    "workers": {
        "value": 1,
        "type": int,
        "env": "FOLLOWUPS_WORKERS",
        "metavar": "N",
        "min": 1,
        "max": 64,
        "help": "server processes (for several, PostgreSQL is recommended; SQLite serializes their writes)",
    },
    "threads": {
        "value": 16,
        "type": int,
        "env": "FOLLOWUPS_THREADS",
        "metavar": "N",
        "min": 1,
        "max": 256,
        "help": "requests each server process works on at once",
    },
    "malloc_arenas": {
        "value": 1,
        "type": int,
        "env": "FOLLOWUPS_MALLOC_ARENAS",
        "metavar": "N",
        "min": 0,
        "max": 64,
        "help": "memory pools (glibc malloc arenas) the threads of each server process share (0: glibc's default, "
                "up to 8 per core); each pool keeps what its requests freed, so more pools is more memory",
    },
    "max_connections": {
        "value": 200,
        "type": int,
        "env": "FOLLOWUPS_MAX_CONNECTIONS",
        "metavar": "N",
        "min": 1,
        "help": "open client connections each server process accepts; more wait in the listen queue",
    },
    "timeout": {
        "value": 30,
        "type": int,
        "env": "FOLLOWUPS_TIMEOUT",
        "metavar": "SECONDS",
        "min": 1,
        "help": "seconds a client has to send a request's headers and body before its connection is closed",
    },
    "keepalive": {
        "value": 15,
        "type": int,
        "env": "FOLLOWUPS_KEEPALIVE",
        "metavar": "SECONDS",
        "min": 0,
        "help": "seconds an idle keep-alive connection is held open (0: close after each response)",
    },
    "graceful_timeout": {
        "value": 30,
        "type": int,
        "env": "FOLLOWUPS_GRACEFUL_TIMEOUT",
        "metavar": "SECONDS",
        "min": 1,
        "help": "on SIGTERM, seconds the requests under way have to finish before the processes stop",
    },
    "certificate": {
        "value": "",
        "type": str,
        "env": "FOLLOWUPS_CERTIFICATE",
        "metavar": "FILE",
        "help": "TLS certificate (PEM) to serve HTTPS directly (empty: plain HTTP, e.g. behind nginx or Caddy)",
    },
    "key": {
        "value": "",
        "type": str,
        "env": "FOLLOWUPS_KEY",
        "metavar": "FILE",
        "help": "the TLS certificate's private key (PEM); needed with certificate",
    },
    "auth": {
        "value": "store",
        "type": str,
        "env": "FOLLOWUPS_AUTH",
        "metavar": "BACKEND",
        "choices": ("store", "htpasswd"),
        "help": "where logins are checked: store (the users' passwords in the database) or htpasswd (the file "
                "htpasswd_file; the login must still be a user of the store)",
    },
    "htpasswd_file": {
        "value": "",
        "type": str,
        "env": "FOLLOWUPS_HTPASSWD_FILE",
        "metavar": "FILE",
        "help": "the htpasswd file (bcrypt, SHA-512/256 crypt, argon2 or APR1 lines) read when auth is htpasswd",
    },
    "max_components": {
        "value": 1000,
        "type": int,
        "env": "FOLLOWUPS_MAX_COMPONENTS",
        "metavar": "N",
        "min": 10,
        "help": "components (events, overrides, alarms, time zones...) one calendar object may hold; more: 400",
    },
    "max_properties": {
        "value": 10000,
        "type": int,
        "env": "FOLLOWUPS_MAX_PROPERTIES",
        "metavar": "N",
        "min": 100,
        "help": "content lines one calendar object may hold; more: 400",
    },
    "max_nesting": {
        "value": 8,
        "type": int,
        "env": "FOLLOWUPS_MAX_NESTING",
        "metavar": "N",
        "min": 3,
        "help": "how deep components may nest in one calendar object (VCALENDAR > VEVENT > VALARM is 3); "
                "deeper: 400",
    },
    "max_attendees": {
        "value": 1000,
        "type": int,
        "env": "FOLLOWUPS_MAX_ATTENDEES",
        "metavar": "N",
        "min": 1,
        "help": "attendees one event may invite; more: 400",
    },
    "max_instances": {
        "value": 10000,
        "type": int,
        "env": "FOLLOWUPS_MAX_INSTANCES",
        "metavar": "N",
        "min": 100,
        "help": "occurrences of one recurrence (time zone rules included) expanded for any one answer",
    },
    "max_expansion_ms": {
        "value": 250,
        "type": int,
        "env": "FOLLOWUPS_MAX_EXPANSION_MS",
        "metavar": "MS",
        "min": 10,
        "help": "milliseconds of CPU one recurrence expansion may take before it stops where it got to",
    },
    "max_calendars": {
        "value": 20,
        "type": int,
        "env": "FOLLOWUPS_MAX_CALENDARS",
        "metavar": "N",
        "min": 0,
        "help": "personal calendars (made by a client with MKCALENDAR) one user may have beside the CRM's; "
                "more: 403",
    },
    "max_personal_objects": {
        "value": 10000,
        "type": int,
        "env": "FOLLOWUPS_MAX_PERSONAL_OBJECTS",
        "metavar": "N",
        "min": 1,
        "help": "objects one personal calendar may hold; a PUT of one more: 403",
    },
    "public_url": {
        "value": "",
        "type": str,
        "env": "FOLLOWUPS_PUBLIC_URL",
        "metavar": "URL",
        "global": True,
        "help": "the server's address as users reach it (https://cal.example.com), for feed URLs and the user "
                "page (empty: the address a request came to; the CLI then uses http://HOST:PORT)",
    },
    "max_feed_objects": {
        "value": 5000,
        "type": int,
        "env": "FOLLOWUPS_MAX_FEED_OBJECTS",
        "metavar": "N",
        "min": 1,
        "help": "most follow-ups one feed or export download holds (those nearest the window's start first)",
    },
    "max_feeds": {
        "value": 50,
        "type": int,
        "env": "FOLLOWUPS_MAX_FEEDS",
        "metavar": "N",
        "min": 1,
        "help": "active (not revoked) feeds one user may have; making one more is refused until one is revoked",
    },
    "feed_cache_mb": {
        "value": 32,
        "type": int,
        "env": "FOLLOWUPS_FEED_CACHE_MB",
        "metavar": "MB",
        "min": 0,
        "help": "megabytes of rendered feeds each server process keeps for repeated fetches (0: none)",
    },
    "login_cache_entries": {
        "value": 10000,
        "type": int,
        "env": "FOLLOWUPS_LOGIN_CACHE_ENTRIES",
        "metavar": "N",
        "min": 0,
        "help": "logins each server process remembers as checked for five minutes (about 0.5 KB each); a login "
                "not remembered costs one password hash (about 30 ms) on its next request. As many refused "
                "passwords are remembered for ten seconds, so one request hashes a wrong password once",
    },
    "mask_cache_entries": {
        "value": 10000,
        "type": int,
        "env": "FOLLOWUPS_MASK_CACHE_ENTRIES",
        "metavar": "N",
        "min": 0,
        "help": "busy blocks of private follow-ups each server process keeps for readers who see them masked "
                "(about 1 KB each); one not kept is parsed and masked again when read",
    },
    "export_cache_entries": {
        "value": 10000,
        "type": int,
        "env": "FOLLOWUPS_EXPORT_CACHE_ENTRIES",
        "metavar": "N",
        "min": 0,
        "help": "follow-ups each process keeps rendered for record exports and feeds (about 1.5 KB each); one not "
                "kept is read and rendered again",
    },
    "overlap_cache_entries": {
        "value": 50000,
        "type": int,
        "env": "FOLLOWUPS_OVERLAP_CACHE_ENTRIES",
        "metavar": "N",
        "min": 0,
        "help": "calendar objects whose occurrences each server process keeps indexed for time-range queries "
                "(about 1.5 KB each); one not kept is parsed again by the next query that needs it",
    },
    "recurrence_cache_entries": {
        "value": 10000,
        "type": int,
        "env": "FOLLOWUPS_RECURRENCE_CACHE_ENTRIES",
        "metavar": "N",
        "min": 0,
        "help": "recurring follow-ups whose rules each server process keeps parsed, with their instances listed, "
                "for free/busy (about 3 KB each); one not kept is parsed and walked from its first instance "
                "again",
    },
    "line_cache_entries": {
        "value": 4096,
        "type": int,
        "env": "FOLLOWUPS_LINE_CACHE_ENTRIES",
        "metavar": "N",
        "min": 0,
        "help": "iCalendar lines of up to 200 characters (a date, a name, an address with its parameters) each "
                "process keeps written, for rendering follow-ups that share them (about 0.3 KB each); all are "
                "forgotten when it is full",
    },
    "timezone_cache_entries": {
        "value": 1000,
        "type": int,
        "env": "FOLLOWUPS_TIMEZONE_CACHE_ENTRIES",
        "metavar": "N",
        "min": 0,
        "help": "time zones each process keeps by the TZIDs clients name (about 2 KB each); one not kept is "
                "looked up again",
    },
}

_KINDS = {int: "a whole number", float: "a number", str: "text"}


class ConfigError(ValueError):
    """A bad configuration, in one line: which option, where it came from, what is wrong."""


@dataclass(frozen=True)
class Settings:
    database: str
    host: str
    port: int
    max_body: int
    log_level: str
    auth_delay: float
    log_format: str = SCHEMA["log_format"]["value"]
    """Defaulted (from the schema) so that code building Settings by hand keeps working;
    so is every option below."""
    workers: int = SCHEMA["workers"]["value"]
    threads: int = SCHEMA["threads"]["value"]
    malloc_arenas: int = SCHEMA["malloc_arenas"]["value"]
    max_connections: int = SCHEMA["max_connections"]["value"]
    timeout: int = SCHEMA["timeout"]["value"]
    keepalive: int = SCHEMA["keepalive"]["value"]
    graceful_timeout: int = SCHEMA["graceful_timeout"]["value"]
    certificate: str = SCHEMA["certificate"]["value"]
    key: str = SCHEMA["key"]["value"]
    auth: str = SCHEMA["auth"]["value"]
    htpasswd_file: str = SCHEMA["htpasswd_file"]["value"]
    max_components: int = SCHEMA["max_components"]["value"]
    max_properties: int = SCHEMA["max_properties"]["value"]
    max_nesting: int = SCHEMA["max_nesting"]["value"]
    max_attendees: int = SCHEMA["max_attendees"]["value"]
    max_instances: int = SCHEMA["max_instances"]["value"]
    max_expansion_ms: int = SCHEMA["max_expansion_ms"]["value"]
    max_calendars: int = SCHEMA["max_calendars"]["value"]
    max_personal_objects: int = SCHEMA["max_personal_objects"]["value"]
    public_url: str = SCHEMA["public_url"]["value"]
    max_feed_objects: int = SCHEMA["max_feed_objects"]["value"]
    max_feeds: int = SCHEMA["max_feeds"]["value"]
    feed_cache_mb: int = SCHEMA["feed_cache_mb"]["value"]
    login_cache_entries: int = SCHEMA["login_cache_entries"]["value"]
    mask_cache_entries: int = SCHEMA["mask_cache_entries"]["value"]
    export_cache_entries: int = SCHEMA["export_cache_entries"]["value"]
    overlap_cache_entries: int = SCHEMA["overlap_cache_entries"]["value"]
    recurrence_cache_entries: int = SCHEMA["recurrence_cache_entries"]["value"]
    timezone_cache_entries: int = SCHEMA["timezone_cache_entries"]["value"]
    line_cache_entries: int = SCHEMA["line_cache_entries"]["value"]


@dataclass(frozen=True)
class ConfigFile:
    """The config file in use (None: none) and what chose it."""

    path: Path | None
    origin: str

    def describe(self) -> str:
        if self.path is None:
            return f"no config file ({self.origin}): built-in defaults"
        return f"config file {self.path} ({self.origin})"


def flag(key: str) -> str:
    """The command-line flag of option ``key``: ``max_body`` is ``--max-body``."""
    return "--" + key.replace("_", "-")


def convert(key: str, raw: Any) -> Any:
    """``raw`` (text from a file, the environment or a flag) as option ``key``'s type,
    checked against the schema's ``min``, ``max`` and ``choices``."""
    spec = SCHEMA[key]
    kind = spec["type"]
    try:
        value = kind(raw.strip() if isinstance(raw, str) else raw)
    except (TypeError, ValueError):
        raise ValueError(f"{key} takes {_KINDS.get(kind, kind.__name__)}, not {raw!r}") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{key} takes a finite number, not {raw!r}")
    if "choices" in spec and value not in spec["choices"]:
        raise ValueError(f"{key} is one of {', '.join(spec['choices'])}, not {raw!r}")
    low, high = spec.get("min"), spec.get("max")
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f"from {low} to {high}" if high is not None else f"at least {low}"
        raise ValueError(f"{key} is {bounds}, not {raw!r}")
    return value


def default_files(environ: Mapping[str, str] | None = None) -> list[Path]:
    """The config files tried, in order, when none is named."""
    environ = os.environ if environ is None else environ
    names = environ[DEFAULT_FILES_ENV].split(os.pathsep) if DEFAULT_FILES_ENV in environ else DEFAULT_FILES
    return [Path(name).expanduser() for name in names if name]


def find_file(named: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None) -> ConfigFile:
    """The config file: ``named`` (``--config``; empty: none at all), else ``$FOLLOWUPS_CONFIG``,
    else the first default file that exists. A named file must exist."""
    environ = os.environ if environ is None else environ
    if named is not None:
        if not str(named):
            return ConfigFile(None, "--config ''")
        return ConfigFile(_existing(Path(named).expanduser(), "--config"), "--config")
    if environ.get(CONFIG_ENV):
        return ConfigFile(_existing(Path(environ[CONFIG_ENV]).expanduser(), CONFIG_ENV), CONFIG_ENV)
    tried = default_files(environ)
    for path in tried:
        if path.is_file():
            return ConfigFile(path, "default")
    return ConfigFile(None, f"looked in {', '.join(map(str, tried))}" if tried else "no default files")


def _existing(path: Path, origin: str) -> Path:
    if not path.exists():
        raise ConfigError(f"config file {path} (from {origin}) not found")
    if not path.is_file():
        raise ConfigError(f"config file {path} (from {origin}) is not a file")
    return path


def load(path: str | os.PathLike[str] | None = None, overrides: Mapping[str, Any] | None = None,
         environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from the config file at ``path``, the environment and ``overrides``
    (command-line flags; None values are ignored). Raises :class:`ConfigError`."""
    environ = os.environ if environ is None else environ
    chosen: dict[str, tuple[Any, str]] = {key: (spec["value"], "the default") for key, spec in SCHEMA.items()}
    if path:
        for key, raw in _read(Path(path)).items():
            chosen[key] = (raw, f"config file {path}")
    for key, spec in SCHEMA.items():
        if environ.get(spec["env"]):
            chosen[key] = (environ[spec["env"]], spec["env"])
    for key, value in (overrides or {}).items():
        if key not in SCHEMA:
            raise ConfigError(f"unknown option {key!r}; known: {', '.join(SCHEMA)}")
        if value is not None:
            chosen[key] = (value, flag(key))
    typed: dict[str, Any] = {}
    for key, (raw, source) in chosen.items():
        try:
            typed[key] = convert(key, raw)
        except ValueError as exc:
            raise ConfigError(f"{exc} (from {source})") from None
    return Settings(**typed)


def resolve(named: str | os.PathLike[str] | None = None, overrides: Mapping[str, Any] | None = None,
            environ: Mapping[str, str] | None = None) -> tuple[Settings, ConfigFile]:
    """Find the config file (see :func:`find_file`) and load the settings from it,
    the environment and ``overrides``."""
    found = find_file(named, environ)
    return load(found.path, overrides, environ), found


def _read(path: Path) -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None, default_section="\0")
    try:
        with path.open(encoding="utf-8") as file:
            parser.read_file(file)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    except configparser.Error as exc:
        line = getattr(exc, "lineno", None)
        where = f", line {line}" if line else ""
        raise ConfigError(f"config file {path}{where}: {str(exc).splitlines()[0]}") from None
    for section in parser.sections():
        if section != SECTION:
            raise ConfigError(f"config file {path}: unknown section [{section}]; the options go in [{SECTION}]")
    values = dict(parser.items(SECTION)) if parser.has_section(SECTION) else {}
    for key in values:
        if key not in SCHEMA:
            raise ConfigError(f"config file {path}: unknown option {key!r} in [{SECTION}]; "
                              f"known: {', '.join(SCHEMA)}")
    return values


def example() -> str:
    """The example config file, generated from the schema."""
    lines = [
        "# followup-caldav configuration (INI). Every option, with its default.",
        f"# Read from --config FILE, else ${CONFIG_ENV}, else the first of {', '.join(DEFAULT_FILES)}.",
        "# Precedence: command-line flag, then environment variable, then this file, then the default.",
        f"[{SECTION}]",
    ]
    for key, spec in SCHEMA.items():
        lines.append(f"# {spec['help']} (environment: {spec['env']}; flag: {flag(key)})")
        lines.append(f"{key} = {spec['value']}".rstrip())
    return "\n".join(lines) + "\n"
