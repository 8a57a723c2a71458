"""A lead may read a diary: ``followups grant LEAD --reads USER``.

The lead reads the user's ``meetings`` and ``tasks`` through CalDAV,
read-only, with private follow-ups masked (``server.services.privacy``: a
calendar that is not one's own shows them as busy blocks).
"""

from __future__ import annotations

from sqlalchemy import Engine

from server.services.transaction import retried, transaction
from store.errors import InvalidFollowup


def _ids(uow: object, lead: str, user: str) -> tuple[int, int]:
    if lead == user:
        raise InvalidFollowup(f"{lead!r} reads their own diary already")
    users = uow.users  # type: ignore[attr-defined]
    a, b = users.by_login(lead).id, users.by_login(user).id
    assert a is not None and b is not None
    return a, b


@retried
def grant(engine: Engine, lead: str, user: str, actor: str = "system") -> bool:
    """Let ``lead`` read ``user``'s diary; False when they already could."""
    with transaction(engine, actor=actor) as uow:
        added = uow.grants.add(*_ids(uow, lead, user))
        uow.commit()
    return added


@retried
def revoke(engine: Engine, lead: str, user: str, actor: str = "system") -> bool:
    """Take a grant back; False when there was none."""
    with transaction(engine, actor=actor) as uow:
        removed = uow.grants.remove(*_ids(uow, lead, user))
        uow.commit()
    return removed


def pairs(engine: Engine) -> list[tuple[str, str]]:
    """Every grant as (lead, user), sorted."""
    with transaction(engine, write=False) as uow:
        return uow.grants.pairs()


def may_read(engine: Engine, lead: str, user: str) -> bool:
    with transaction(engine, write=False) as uow:
        return uow.grants.may_read(lead, user)
