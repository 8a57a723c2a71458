"""Radicale rights plugin: the rule is ``server.services.calendars.rights``."""

from __future__ import annotations

from radicale import config, pathutils, rights

from plugins.settings import database_url
from server.services import calendars
from server.services.followups import open_store


class Rights(rights.BaseRights):
    def __init__(self, configuration: config.Configuration) -> None:
        super().__init__(configuration)
        self._engine = open_store(database_url(configuration))

    def authorization(self, user: str, user_groups: set[str], path: str) -> str:
        sane = pathutils.strip_path(path)
        return calendars.rights(self._engine, user, sane.split("/") if sane else [])
