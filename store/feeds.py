"""Subscription feeds: which user's secret URL reads what, stored by the hash of its token.

The token itself is never stored: a copy of the database (a backup, a replica)
must not let anyone read a calendar. A fetch looks a feed up by the SHA-256 of
the token it was given, in one indexed query that also leaves out revoked feeds,
so an unknown and a revoked token take the same path.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from store import convert
from store.errors import NotFound
from store.orm import FeedRow, UserRow


@dataclass(frozen=True)
class StoredFeed:
    """One row of ``feeds``, with its owner's login and time zone."""

    id: int
    owner: str
    tz: str
    what: str
    record_id: int | None
    from_days: int
    to_days: int
    created_at: datetime
    revoked_at: datetime | None


def _aware(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment.replace(tzinfo=UTC)


def _stored(row: FeedRow, login: str, tz: str) -> StoredFeed:
    created = _aware(row.created_at)
    assert created is not None
    return StoredFeed(row.id, login, tz, row.what, row.record_id, row.from_days, row.to_days, created,
                      _aware(row.revoked_at))


_WITH_OWNER = select(FeedRow, UserRow.login, UserRow.tz).join(UserRow, UserRow.id == FeedRow.user_id)


class Feeds:
    """The feeds of one unit of work."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, user_id: int, token_hash: str, what: str, record_id: int | None, from_days: int,
            to_days: int, created_at: datetime) -> StoredFeed:
        row = FeedRow(user_id=user_id, token_hash=token_hash, what=what, record_id=record_id,
                      from_days=from_days, to_days=to_days, created_at=convert.naive_utc(created_at))
        self.session.add(row)
        self.session.flush()
        return self.get(row.id)

    def get(self, feed_id: int) -> StoredFeed:
        found = self.session.execute(_WITH_OWNER.where(FeedRow.id == feed_id)).first()
        if found is None:
            raise NotFound(f"no feed {feed_id} (see `followups feed list USER --all`)")
        return _stored(*found)

    def of_user(self, user_id: int, include_revoked: bool = False) -> list[StoredFeed]:
        stmt = _WITH_OWNER.where(FeedRow.user_id == user_id)
        if not include_revoked:
            stmt = stmt.where(FeedRow.revoked_at.is_(None))
        return [_stored(*found) for found in self.session.execute(stmt.order_by(FeedRow.id))]

    def active(self, token_hash: str) -> StoredFeed | None:
        """The feed whose token hashes to ``token_hash``, unless it was revoked: one
        query, whether the token is unknown, revoked or valid."""
        found = self.by_token_hash(token_hash)
        return found if found is not None and found.revoked_at is None else None

    def count_active(self, user_id: int) -> int:
        """How many feeds of the user are not revoked."""
        return int(self.session.scalar(select(func.count()).select_from(FeedRow).where(
            FeedRow.user_id == user_id, FeedRow.revoked_at.is_(None))) or 0)

    def by_token_hash(self, token_hash: str) -> StoredFeed | None:
        """The feed whose token hashes to ``token_hash``, revoked or not."""
        found = self.session.execute(_WITH_OWNER.where(FeedRow.token_hash == token_hash)).first()
        return None if found is None else _stored(*found)

    def revoke(self, feed_id: int, at: datetime) -> bool:
        """Mark feed ``feed_id`` revoked at ``at``; False when it was already."""
        result = self.session.execute(update(FeedRow).where(FeedRow.id == feed_id, FeedRow.revoked_at.is_(None))
                                      .values(revoked_at=convert.naive_utc(at)))
        return bool(getattr(result, "rowcount", 0))
