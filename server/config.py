"""Configuration as data: one schema with value, type and help for every
option; the config file, the ``serve`` flags and the docs come from it.

Precedence: command-line flag, then environment variable, then the config
file (``[followups]`` section, INI), then the default.
"""

from __future__ import annotations

import configparser
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA: dict[str, dict[str, Any]] = {
    "database": {
        "value": "",
        "type": str,
        "env": "FOLLOWUPS_DATABASE",
        "help": "the store: sqlite:///PATH or postgresql://USER@HOST/DB (empty: a SQLite file in "
                "~/.local/share/followup-caldav)",
    },
    "host": {"value": "127.0.0.1", "type": str, "env": "FOLLOWUPS_HOST", "help": "address to listen on"},
    "port": {"value": 5232, "type": int, "env": "FOLLOWUPS_PORT", "help": "TCP port to listen on"},
    "max_body": {
        "value": 1_000_000,
        "type": int,
        "env": "FOLLOWUPS_MAX_BODY",
        "help": "largest request body in bytes; larger ones are answered with 413",
    },
    "log_level": {
        "value": "warning",
        "type": str,
        "env": "FOLLOWUPS_LOG_LEVEL",
        "help": "Radicale's log level: debug, info, warning, error or critical",
    },
    "auth_delay": {
        "value": 1.0,
        "type": float,
        "env": "FOLLOWUPS_AUTH_DELAY",
        "help": "seconds a failed login (and a 403) is delayed, against password guessing",
    },
}


@dataclass(frozen=True)
class Settings:
    database: str
    host: str
    port: int
    max_body: int
    log_level: str
    auth_delay: float


def load(path: str | os.PathLike[str] | None = None, overrides: Mapping[str, Any] | None = None,
         environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from the config file at ``path``, the environment and
    ``overrides`` (command-line flags; None values are ignored)."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {k: spec["value"] for k, spec in SCHEMA.items()}
    if path:
        parser = configparser.ConfigParser()
        if not parser.read(path):
            raise FileNotFoundError(f"config file {path} not found")
        if parser.has_section("followups"):
            for key, raw in parser.items("followups"):
                if key not in SCHEMA:
                    raise ValueError(f"{path}: unknown option {key!r} in [followups]; known: {', '.join(SCHEMA)}")
                values[key] = raw
    for key, spec in SCHEMA.items():
        if spec.get("env") and environ.get(spec["env"]):
            values[key] = environ[spec["env"]]
    for key, value in (overrides or {}).items():
        if value is not None:
            values[key] = value
    typed: dict[str, Any] = {}
    for key, spec in SCHEMA.items():
        try:
            typed[key] = spec["type"](values[key])
        except (TypeError, ValueError):
            raise ValueError(f"option {key} takes a {spec['type'].__name__}, not {values[key]!r}") from None
    return Settings(**typed)


def example() -> str:
    """The example config file, generated from the schema."""
    lines = ["# followup-caldav configuration (INI). Every option, with its default.", "[followups]"]
    for key, spec in SCHEMA.items():
        lines.append(f"# {spec['help']} (environment: {spec['env']})")
        lines.append(f"{key} = {spec['value']}")
    return "\n".join(lines) + "\n"


def radicale_configuration(settings: Settings) -> Any:
    """Radicale's configuration for our plugins, from our settings."""
    from radicale import config

    configuration = config.load()
    configuration.update({
        "server": {
            # Radicale's own listener is not used; its config refuses port 0.
            "hosts": f"{settings.host}:{settings.port or 5232}",
            "max_content_length": str(settings.max_body),
            "max_resource_size": str(int(settings.max_body * 0.8)),
        },
        "auth": {"type": "plugins.auth", "delay": str(settings.auth_delay)},
        "rights": {
            "type": "plugins.rights",
            "permit_delete_collection": "False",
            "permit_overwrite_collection": "False",
        },
        "storage": {"type": "plugins.storage", "database_url": settings.database},
        "logging": {"level": settings.log_level, "mask_passwords": "True"},
        "web": {"type": "none"},
    }, "followup-caldav", privileged=True)
    return configuration


def default_config_path() -> Path | None:
    path = os.environ.get("FOLLOWUPS_CONFIG")
    return Path(path) if path else None
