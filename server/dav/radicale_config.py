"""Radicale's configuration for our plugins, built from our settings (only
``server/dav`` and ``plugins`` import Radicale)."""

from __future__ import annotations

from typing import Any

from server.config import Settings


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
        # Radicale would sleep in the request's thread; server.dav.logindelay delays instead.
        "auth": {"type": "plugins.auth", "delay": "0"},
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
