"""The options our plugins add to Radicale's configuration."""

from __future__ import annotations

from typing import Any

from radicale import config

PLUGIN_CONFIG_SCHEMA: dict[str, Any] = {
    "storage": {
        "database_url": {
            "value": "",
            "help": "the follow-up store: sqlite:///PATH or postgresql://...; "
                    "empty means $FOLLOWUPS_DATABASE or the default SQLite file",
            "type": str,
        },
    },
}


def database_url(configuration: config.Configuration) -> str | None:
    value = configuration.copy(PLUGIN_CONFIG_SCHEMA).get("storage", "database_url")
    return str(value) or None
