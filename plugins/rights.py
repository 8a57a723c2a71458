"""Radicale rights plugin.

A user reads and writes the items of their own calendars, and reads the
bookings of every resource. Nobody creates, deletes or overwrites collections
(the CRM owns them), and nobody sees other users' calendars for now.

Any other path directly in a user's own home is readable by that user, so
asking for a calendar that does not exist answers 404 there (as in vanilla
Radicale; clients such as the ``caldav`` library tell "not found" from "not
allowed" by it) while MKCALENDAR, MKCOL and PUT into it still answer 403.
In someone else's home everything answers 403, so nothing about it leaks.
"""

from __future__ import annotations

from radicale import config, pathutils, rights

from plugins.settings import database_url
from server.services import calendars as caldav
from server.services.followups import open_store


class Rights(rights.BaseRights):
    def __init__(self, configuration: config.Configuration) -> None:
        super().__init__(configuration)
        self._engine = open_store(database_url(configuration))

    def authorization(self, user: str, user_groups: set[str], path: str) -> str:
        if not user:
            return ""
        parts = pathutils.strip_path(path).split("/") if pathutils.strip_path(path) else []
        if not parts:
            return "R"
        if parts[0] == user:
            if len(parts) == 1:
                return "R"
            if len(parts) == 2:
                return "rw" if parts[1] in caldav.USER_COLLECTIONS else "r"
            return ""
        if len(parts) <= 2 and caldav.principal_kind(self._engine, parts[0]) == "resource":
            return "R" if len(parts) == 1 else ("r" if parts[1] == caldav.BOOKINGS else "")
        return ""
