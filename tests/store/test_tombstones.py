"""An href that leaves a collection leaves a tombstone (what a sync by token
reports as removed), written in one statement (``Calendars._bury``): a new
one, or the one already there moved to the new revision."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, insert, select

from store.orm import CollectionRow, ObjectRow, TombstoneRow
from store.uow import UnitOfWork

WHEN = datetime(2026, 3, 2, 12, 0)


def _member(engine: Engine, cid: int | None, href: str) -> int:
    """A member at ``href`` (in a new collection when ``cid`` is None), put in
    place without the store's own bookkeeping; the collection's id."""
    with engine.begin() as conn:
        if cid is None:
            cid = conn.execute(insert(CollectionRow).values(principal="t", name="c", component="VEVENT", rev=1,
                                                            props="{}", modified_at=WHEN)
                               .returning(CollectionRow.id)).scalar_one()
        conn.execute(insert(ObjectRow).values(collection_id=cid, href=href, uid=href, component="VEVENT",
                                              text="BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n", etag='"e"', start_ts=0,
                                              end_ts=1, exact=True, private=False, rev=1, modified_at=WHEN))
    return int(cid)


def _remove(engine: Engine, cid: int, href: str) -> None:
    with UnitOfWork(engine) as uow:
        row = uow.calendars.object_at(cid, href)
        assert row is not None
        uow.calendars.remove(row)
        uow.commit()


def test_a_removal_buries_its_href_and_a_second_moves_the_tombstone(engine: Engine) -> None:
    cid = _member(engine, None, "a.ics")
    _member(engine, cid, "b.ics")
    _remove(engine, cid, "a.ics")
    with engine.connect() as conn:
        first = conn.execute(select(TombstoneRow.href, TombstoneRow.rev, TombstoneRow.at)).all()
        rev = conn.scalar(select(CollectionRow.rev).where(CollectionRow.id == cid))
    assert [(href, tomb_rev) for href, tomb_rev, _ in first] == [("a.ics", rev)] and first[0][2] is not None

    _member(engine, cid, "a.ics")  # back without un-burying (as data from before the store did)
    _remove(engine, cid, "a.ics")
    _remove(engine, cid, "b.ics")
    with engine.connect() as conn:
        tombs = dict(conn.execute(select(TombstoneRow.href, TombstoneRow.rev)).all())
        now = conn.scalar(select(CollectionRow.rev).where(CollectionRow.id == cid))
        left = conn.scalars(select(ObjectRow.href).where(ObjectRow.collection_id == cid)).all()
    assert tombs == {"a.ics": now - 1, "b.ics": now} and now == rev + 2 and left == []
