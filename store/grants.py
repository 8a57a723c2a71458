"""Who may read whose diary: a lead reads a user's meetings and tasks
(read-only; private follow-ups masked)."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from store.orm import GrantRow, UserRow


class Grants:
    """The grants of one unit of work."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, lead_id: int, user_id: int) -> bool:
        """Let ``lead_id`` read ``user_id``'s diary; False when it already could."""
        if self.session.get(GrantRow, (lead_id, user_id)) is not None:
            return False
        self.session.add(GrantRow(lead_id=lead_id, user_id=user_id))
        self.session.flush()
        return True

    def remove(self, lead_id: int, user_id: int) -> bool:
        """Take the grant back; False when there was none."""
        return bool(self.session.connection().execute(delete(GrantRow).where(GrantRow.lead_id == lead_id,
                                                                GrantRow.user_id == user_id)).rowcount)

    def pairs(self) -> list[tuple[str, str]]:
        """Every grant as (lead login, user login), sorted."""
        lead, user = UserRow.__table__.alias("lead"), UserRow.__table__.alias("reader_of")
        rows = self.session.execute(
            select(lead.c.login, user.c.login).select_from(GrantRow)
            .join(lead, lead.c.id == GrantRow.lead_id).join(user, user.c.id == GrantRow.user_id)
            .order_by(lead.c.login, user.c.login))
        return [(a, b) for a, b in rows]

    def may_read(self, lead_login: str, user_login: str) -> bool:
        lead, user = UserRow.__table__.alias("lead"), UserRow.__table__.alias("reader_of")
        return self.session.execute(
            select(GrantRow.lead_id).join(lead, lead.c.id == GrantRow.lead_id)
            .join(user, user.c.id == GrantRow.user_id)
            .where(lead.c.login == lead_login, user.c.login == user_login)).first() is not None
