"""WSGI entry point for another server than ``followups serve``, e.g.
``gunicorn -w 4 --threads 16 -k server.dav.process.RequestClockWorker 'server.dav.wsgi:application'``
(that worker class is gthread with a clock on reading requests, its ``--timeout``
seconds; see :mod:`server.dav.process`). ``followups serve`` runs the same with
the settings below and one-line start-up errors: prefer it.

Configured as ``followups serve`` is, minus the flags: the ``FOLLOWUPS_*``
environment variables, then the config file named by ``FOLLOWUPS_CONFIG`` or
else the first default one found (see :mod:`server.config`), then the defaults.
"""

from __future__ import annotations

import logging

from server import config
from server.dav.app import make_app
from server.dav.requestlog import RequestLog

log = logging.getLogger("followups.wsgi")


def create() -> RequestLog:
    settings, config_file = config.resolve()
    log.info("followup-caldav: %s", config_file.describe())
    from server.services.followups import open_store

    open_store(settings.database or None)
    return make_app(settings)


def __getattr__(name: str) -> RequestLog:
    # Built on first use, not at import time (no engine at import).
    if name == "application":
        app = create()
        globals()["application"] = app
        return app
    raise AttributeError(name)
