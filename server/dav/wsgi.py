"""WSGI entry point, e.g. ``gunicorn -w 4 'server.dav.wsgi:application'``.

Configured by ``FOLLOWUPS_CONFIG`` (a config file) and the ``FOLLOWUPS_*``
environment variables (see ``server.config.SCHEMA``).
"""

from __future__ import annotations

from server import config
from server.dav.app import Application, make_app


def create() -> Application:
    settings = config.load(config.default_config_path())
    from server.services.followups import open_store

    open_store(settings.database or None)
    return make_app(settings)


def __getattr__(name: str) -> Application:
    # Built on first use, not at import time (no engine at import).
    if name == "application":
        app = create()
        globals()["application"] = app
        return app
    raise AttributeError(name)
