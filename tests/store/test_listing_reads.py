"""The reads behind the listings ``server.dav.listing`` answers
(:meth:`store.calendar.CalendarReader.listing`): the members asked for and
no others, in batches, on both databases; and on PostgreSQL a lookup by the
unique (collection, href) index whatever the table's statistics say, since
every such read is planned afresh (psycopg forgets prepared statements at
each rollback)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, insert, text

from store.calendar import BATCH, CalendarReader, _listing
from store.orm import CollectionRow, ObjectRow

WHEN = datetime(2026, 3, 2, 12, 0)


def _calendar(engine: Engine, name: str, hrefs: list[str], padding: int = 0) -> int:
    """A collection ``name`` of members at ``hrefs`` (texts ``padding``
    characters longer than a few dozen); its id."""
    with engine.begin() as conn:
        cid = conn.execute(insert(CollectionRow).values(principal="reader", name=name, component="VEVENT", rev=1,
                                                        props="{}", modified_at=WHEN)
                           .returning(CollectionRow.id)).scalar_one()
        conn.execute(insert(ObjectRow), [
            {"collection_id": cid, "href": h, "uid": h[:-4], "component": "VEVENT",
             "text": f"BEGIN:VCALENDAR\r\nUID:{h}\r\n{'X' * padding}END:VCALENDAR\r\n", "etag": f'"{h}"', "start_ts": 0,
             "end_ts": 1, "exact": True, "private": False, "rev": 1, "modified_at": WHEN} for h in hrefs])
    return int(cid)


def test_listing_reads_the_members_asked_for_and_no_others(engine: Engine) -> None:
    hrefs = [f"m{i:05d}.ics" for i in range(BATCH * 2 + 7)]
    mine = _calendar(engine, "mine", hrefs)
    other = _calendar(engine, "other", hrefs[:50] + ["elsewhere.ics"])
    asked = hrefs[3:BATCH + 40] + ["missing.ics", "elsewhere.ics", hrefs[5], "a'b%\"c.ics"]
    with engine.connect() as conn:
        r = CalendarReader(conn)
        found = r.listing(mine, asked, texts=True)
        assert sorted(o.href for o in found) == sorted(hrefs[3:BATCH + 40])
        by_href = {o.href: o for o in found}
        assert by_href[hrefs[5]].text == f"BEGIN:VCALENDAR\r\nUID:{hrefs[5]}\r\nEND:VCALENDAR\r\n"
        assert by_href[hrefs[5]].etag == f'"{hrefs[5]}"' and by_href[hrefs[5]].modified_at == WHEN
        bare = r.listing(mine, asked)
        assert {o.href for o in bare} == set(by_href) and not hasattr(bare[0], "text")
        assert r.listing(mine, []) == []
        assert [o.href for o in r.listing(other, ["elsewhere.ics", hrefs[60]])] == ["elsewhere.ics"]
        whole = r.listing(mine, texts=True)
        assert [o.href for o in whole] == [o.href for o in r.objects(mine)] == sorted(hrefs)
        assert [o.text for o in whole] == list(r.texts_of(mine))


def test_listing_by_href_uses_the_unique_index_without_statistics(engine: Engine) -> None:
    """A calendar of thousands of texts of a kilobyte (as the CRM's) in a
    table never analyzed (PostgreSQL then takes it for a few dozen rows): 100
    hrefs are 100 index lookups, not a read of the whole calendar."""
    if engine.dialect.name != "postgresql":
        return
    hrefs = [f"{i:08x}-member.ics" for i in range(4000)]
    cid = _calendar(engine, "big", hrefs, padding=1000)
    stmt = _listing("postgresql", True, True)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT reltuples FROM pg_class WHERE oid = 'calendar_objects'::regclass")
                            ).scalar_one() <= 0  # never analyzed
        sql = str(stmt.compile(dialect=conn.dialect))
        conn.exec_driver_sql("SET plan_cache_mode = force_custom_plan")
        plan = "\n".join(row[0] for row in conn.exec_driver_sql(
            "EXPLAIN " + sql, {"collection_id": cid, "hrefs": hrefs[1000:1100]}))
        assert "Index Scan using calendar_objects_collection_id_href_key" in plan, plan
        assert "ix_objects_rev" not in plan, plan
        conn.exec_driver_sql("ANALYZE calendar_objects")
        plan = "\n".join(row[0] for row in conn.exec_driver_sql(
            "EXPLAIN " + sql, {"collection_id": cid, "hrefs": hrefs[1000:1100]}))
        assert "calendar_objects_collection_id_href_key" in plan, plan
        assert len(CalendarReader(conn).listing(cid, hrefs[1000:1100], texts=True)) == 100
