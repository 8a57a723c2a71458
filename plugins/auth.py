"""Radicale auth plugin: logins are the CRM users, checked by
``server.services.auth.authenticate`` (the one function that decides every
login: against the store, or the htpasswd file the settings name)."""

from __future__ import annotations

from radicale import auth, config

from plugins.settings import database_url
from server.services import auth as logins
from server.services.followups import open_store


class Auth(auth.BaseAuth):
    def __init__(self, configuration: config.Configuration) -> None:
        super().__init__(configuration)
        self._engine = open_store(database_url(configuration))

    def _login(self, login: str, password: str) -> str:
        return login if logins.authenticate(self._engine, login, password) else ""
