"""The mapping's view of the CRM directory, read through a unit of work.

Lookups are memoized for the life of one unit of work: a bulk import or a
request renders many follow-ups that share owners, types and companies.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from store.domain import Company, FieldDef, FollowupType, Kind, Person, Project, Resource, Sale, User
from store.uow import UnitOfWork


class DbDirectory:
    """Implements ``mapping.Directory`` over the store."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow
        self._cache: dict[tuple[str, Any], Any] = {}

    def _memo(self, key: tuple[str, Any], load: Any) -> Any:
        try:
            return self._cache[key]
        except KeyError:
            value = self._cache[key] = load()
            return value

    def forget(self) -> None:
        self._cache.clear()

    def user(self, id: int) -> User:
        return self._memo(("user", id), lambda: self.uow.users.get(id))  # type: ignore[no-any-return]

    def user_by_email(self, email: str) -> User | None:
        return self._memo(("user@", email.lower()), lambda: self.uow.users.by_email(email))  # type: ignore[no-any-return]

    def preload_addresses(self, addresses: Iterable[str]) -> None:
        """Answer ahead, in a statement per kind of record, what
        :meth:`user_by_email`, then :meth:`resource_by_address` for the
        addresses no user has, then :meth:`person_by_email` for the rest would
        answer one address at a time (the mapping's order for an ATTENDEE):
        a meeting's invitees otherwise cost up to three statements each."""
        keys = sorted({a.lower() for a in addresses})
        for kind, repository in (("user@", self.uow.users), ("resource@", self.uow.resources),
                                 ("person@", self.uow.persons)):
            asked = [k for k in keys if (kind, k) not in self._cache]
            found = repository.by_emails(asked) if asked else {}
            for k in asked:
                self._cache[(kind, k)] = found.get(k)
            keys = [k for k in keys if self._cache[(kind, k)] is None]
            if not keys:
                return

    def resource(self, id: int) -> Resource:
        return self._memo(("resource", id), lambda: self.uow.resources.get(id))  # type: ignore[no-any-return]

    def resource_by_address(self, address: str) -> Resource | None:
        return self._memo(("resource@", address.lower()),  # type: ignore[no-any-return]
                          lambda: self.uow.resources.by_email(address))

    def person(self, id: int) -> Person:
        return self._memo(("person", id), lambda: self.uow.persons.get(id))  # type: ignore[no-any-return]

    def person_by_email(self, email: str) -> Person | None:
        return self._memo(("person@", email.lower()), lambda: self.uow.persons.by_email(email))  # type: ignore[no-any-return]

    def company(self, id: int) -> Company:
        return self._memo(("company", id), lambda: self.uow.companies.get(id))  # type: ignore[no-any-return]

    def sale(self, id: int) -> Sale:
        return self._memo(("sale", id), lambda: self.uow.sales.get(id))  # type: ignore[no-any-return]

    def project(self, id: int) -> Project:
        return self._memo(("project", id), lambda: self.uow.projects.get(id))  # type: ignore[no-any-return]

    def types(self) -> list[FollowupType]:
        return self._memo(("types", None), self.uow.types.list)  # type: ignore[no-any-return]

    def type(self, id: int) -> FollowupType:
        return self._memo(("type", id), lambda: self.uow.types.get(id))  # type: ignore[no-any-return]

    def default_type(self, kind: Kind) -> FollowupType:
        return self._memo(("default", kind), lambda: self.uow.types.default(kind))  # type: ignore[no-any-return]

    def fields(self) -> list[FieldDef]:
        return self._memo(("fields", None), self.uow.fields.list)  # type: ignore[no-any-return]

    def field(self, id: int) -> FieldDef:
        return self._memo(("field", id), lambda: self.uow.fields.get(id))  # type: ignore[no-any-return]
