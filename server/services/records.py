"""The CRM's directory records changed, archived and removed: companies, contact
persons, sales, projects, follow-up types, custom fields, resources and users.

Each operation is one transaction (:func:`server.services.transaction.transaction`),
so a rename is in every calendar object that shows the record when it commits,
without anything here asking for it.

The rules (docs/decisions.md, "Removing a directory record"):

- A record is removed only when nothing refers to it; otherwise :class:`InUse`
  says what does (how many, and the first follow-ups by id).
- Every record kind but users can be *archived* instead: the follow-ups that
  have it keep it (their calendar objects do not change), it is refused for
  any other (the store checks, :func:`store.records.archived_refusal`), and lists
  leave it out. Unarchiving brings it back.
- Users are never archived: a user is removed only when they own no follow-up
  and are invited to none; their grants go with them.
- A follow-up type is neither removed nor archived while it is the last one
  of its kind that is not archived: new follow-ups of that kind need one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from server.services.transaction import retried, transaction
from store.domain import User
from store.errors import InvalidFollowup
from store.records import Use
from store.uow import UnitOfWork

REPOSITORIES = {"company": "companies", "person": "persons", "sale": "sales", "project": "projects",
                "type": "types", "field": "fields", "resource": "resources"}
"""The record kinds that can be changed, archived and removed here, by their CLI noun."""
ARCHIVABLE = frozenset(REPOSITORIES)
"""Every kind but users."""

_FOLLOWUP_IDS = frozenset({"follow-up", "invitation", "booking"})
"""The uses whose ids are follow-ups' (shown as ``#31``)."""


class InUse(InvalidFollowup):
    """A removal refused: other records still refer to this one."""

    def __init__(self, message: str, uses: Sequence[Use]) -> None:
        super().__init__(message)
        self.uses = uses


@dataclass(frozen=True)
class Outcome:
    """What an operation did, for the caller to report."""

    record: Any
    description: str
    """The record as messages name it, e.g. ``company 4 "Nordlys AS"``."""
    grants: int = 0
    """Grants removed with a user."""


def _repository(uow: UnitOfWork, noun: str) -> Any:
    return getattr(uow, REPOSITORIES[noun])


def find(uow: UnitOfWork, noun: str, key: str) -> Any:
    """The record called ``key``: a resource by its login, the others by id or name."""
    repo = _repository(uow, noun)
    return repo.by_login(key) if noun == "resource" else repo.by_name(key)


@retried
def update(engine: Engine, noun: str, key: str, change: Callable[[Any], None], actor: str = "system") -> Outcome:
    """Apply ``change`` to the record and save it; whatever shows it follows."""
    with transaction(engine, actor=actor) as uow:
        repo = _repository(uow, noun)
        record = find(uow, noun, key)
        change(record)
        record.name = record.name.strip()
        if not record.name:
            raise InvalidFollowup("the name is empty")
        if noun in ("type", "field"):
            _unique_name(repo, record)
        repo.update(record)
        uow.commit()
    return Outcome(record, repo.describe(record))


def _unique_name(repo: Any, record: Any) -> None:
    """Types and fields are found by name (case-insensitive), by the CLI and in clients' CATEGORIES
    and X-CRM-FIELD, so two may not share one."""
    for other in repo.list():
        if other.id != record.id and other.name.casefold() == record.name.casefold():
            raise InvalidFollowup(f"{repo.describe(other)} has that name already")


@retried
def remove(engine: Engine, noun: str, key: str, actor: str = "system") -> Outcome:
    """Delete the record, or raise :class:`InUse` naming what still refers to it."""
    with transaction(engine, actor=actor) as uow:
        repo = _repository(uow, noun)
        record = find(uow, noun, key)
        uses = repo.uses(record.id)
        if uses:
            raise InUse(f"{repo.describe(record)} is still used by {_join([_count(u) for u in uses])}", uses)
        if noun == "type":
            _keep_a_type(uow, record)
        repo.remove(record.id)
        uow.commit()
    return Outcome(record, repo.describe(record))


@retried
def archive(engine: Engine, noun: str, key: str, archived: bool = True, actor: str = "system") -> Outcome:
    """Archive the record (or with ``archived=False`` bring it back). Nothing a client sees
    changes: the follow-ups that have it keep it."""
    with transaction(engine, actor=actor) as uow:
        repo = _repository(uow, noun)
        record = find(uow, noun, key)
        if archived and noun == "type":
            _keep_a_type(uow, record)
        record.archived = archived
        repo.update(record)
        uow.commit()
    return Outcome(record, repo.describe(record))


def _keep_a_type(uow: UnitOfWork, ftype: Any) -> None:
    if ftype.archived:
        return
    if not any(t.kind is ftype.kind and t.id != ftype.id and not t.archived for t in uow.types.list()):
        raise InvalidFollowup(f"{uow.types.describe(ftype)} is the last {ftype.kind.value} type that is not "
                              f"archived; new {ftype.kind.value}s need one: add another first")


@retried
def remove_user(engine: Engine, login: str, actor: str = "system") -> Outcome:
    """Delete a user who owns no follow-up and is invited to none, with the grants that
    name them; else :class:`InUse` naming the follow-ups. Users are not archived."""
    with transaction(engine, actor=actor) as uow:
        user: User = uow.users.by_login(login)
        assert user.id is not None
        uses = uow.users.uses(user.id)
        if uses:
            told = {"follow-up": "still owns", "invitation": "is still invited to"}
            parts = [f"{told[u.what]} {_count(u, 'follow-up')}" for u in uses]
            raise InUse(f"{uow.users.describe(user)} {_join(parts)}", uses)
        grants = sum(1 for lead, reader in uow.grants.pairs() if login in (lead, reader))
        uow.users.remove(user.id)
        uow.commit()
    return Outcome(user, uow.users.describe(user), grants)


def _count(use: Use, noun: str | None = None) -> str:
    """``12 follow-ups (e.g. #31, #40)``, ``1 booking (#7)``, ``3 persons``."""
    text = f"{use.count} {noun or use.what}{'' if use.count == 1 else 's'}"
    if use.what in _FOLLOWUP_IDS:
        ids = ", ".join(f"#{id}" for id in use.first)
        text += f" ({'e.g. ' if use.count > len(use.first) else ''}{ids})"
    return text


def _join(parts: Sequence[str]) -> str:
    return parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"
