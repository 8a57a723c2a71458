"""The CRM records the mapping looks up, as a protocol the server implements over its database.

Lookups by id raise ``store.errors.NotFound`` for unknown ids; lookups by
address return ``None`` when nothing matches.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from dataclasses import field as dc_field
from typing import Protocol, TypeVar

from store.domain import (
    SEED_TYPES,
    Company,
    FieldDef,
    FollowupType,
    Kind,
    Person,
    Project,
    Resource,
    Sale,
    User,
)
from store.errors import NotFound


class Directory(Protocol):
    """What the mapping needs to know about the CRM besides the follow-up itself."""

    def user(self, id: int) -> User: ...
    def user_by_email(self, email: str) -> User | None: ...
    def resource(self, id: int) -> Resource: ...
    def resource_by_address(self, address: str) -> Resource | None: ...
    def person(self, id: int) -> Person: ...
    def person_by_email(self, email: str) -> Person | None: ...
    def company(self, id: int) -> Company: ...
    def sale(self, id: int) -> Sale: ...
    def project(self, id: int) -> Project: ...
    def type(self, id: int) -> FollowupType: ...
    def types(self) -> list[FollowupType]: ...
    def field(self, id: int) -> FieldDef: ...
    def fields(self) -> list[FieldDef]: ...
    def default_type(self, kind: Kind) -> FollowupType: ...


_T = TypeVar("_T")


def _by_id(items: list[_T], id: int, what: str) -> _T:
    for item in items:
        if getattr(item, "id", None) == id:
            return item
    raise NotFound(f"no {what} with id {id}")


def _fold(text: str | None) -> str:
    return (text or "").strip().casefold()


@dataclass
class MemoryDirectory:
    """An in-memory :class:`Directory` for tests and benchmarks.

    Records without an id get one (1, 2, ... per list) when the directory is built.
    """

    users: list[User] = dc_field(default_factory=list)
    resources: list[Resource] = dc_field(default_factory=list)
    persons: list[Person] = dc_field(default_factory=list)
    companies: list[Company] = dc_field(default_factory=list)
    sales: list[Sale] = dc_field(default_factory=list)
    projects: list[Project] = dc_field(default_factory=list)
    followup_types: list[FollowupType] = dc_field(default_factory=list)
    field_defs: list[FieldDef] = dc_field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.followup_types:
            self.followup_types = [replace(t) for t in SEED_TYPES]
        for items in (self.users, self.resources, self.persons, self.companies, self.sales, self.projects,
                      self.followup_types, self.field_defs):
            used = {item.id for item in items if item.id is not None}
            next_id = 1
            for item in items:
                if item.id is None:
                    while next_id in used:
                        next_id += 1
                    item.id = next_id
                    used.add(next_id)

    def user(self, id: int) -> User:
        return _by_id(self.users, id, "user")

    def user_by_email(self, email: str) -> User | None:
        return next((u for u in self.users if _fold(u.email) == _fold(email)), None)

    def resource(self, id: int) -> Resource:
        return _by_id(self.resources, id, "resource")

    def resource_by_address(self, address: str) -> Resource | None:
        return next((r for r in self.resources if r.email and _fold(r.email) == _fold(address)), None)

    def person(self, id: int) -> Person:
        return _by_id(self.persons, id, "person")

    def person_by_email(self, email: str) -> Person | None:
        return next((p for p in self.persons if p.email and _fold(p.email) == _fold(email)), None)

    def company(self, id: int) -> Company:
        return _by_id(self.companies, id, "company")

    def sale(self, id: int) -> Sale:
        return _by_id(self.sales, id, "sale")

    def project(self, id: int) -> Project:
        return _by_id(self.projects, id, "project")

    def type(self, id: int) -> FollowupType:
        return _by_id(self.followup_types, id, "follow-up type")

    def types(self) -> list[FollowupType]:
        return list(self.followup_types)

    def field(self, id: int) -> FieldDef:
        return _by_id(self.field_defs, id, "custom field")

    def fields(self) -> list[FieldDef]:
        return list(self.field_defs)

    def default_type(self, kind: Kind) -> FollowupType:
        for t in self.followup_types:
            if t.kind is kind:
                return t
        raise NotFound(f"no follow-up type for {kind.value}s")
