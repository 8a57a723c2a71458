"""A Hypothesis state machine for sync (after vdirsyncer's SyncMachine): any
mix of CRM edits (server.services.followups) and client PUT/DELETE over HTTP, and a
client that keeps its copy of /anna/meetings/ and /anna/tasks/ up to date only
through sync-collection (RFC 6578) and calendar-multiget ends every sync with
exactly the server's hrefs and ETags. An admin may prune the remembered
removals at any point; a client whose token predates a prune is refused (403
valid-sync-token) and, as real clients do, syncs afresh."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import ClassVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    precondition,
    rule,
    run_state_machine_as_test,
)

from server.services import followups as services
from store import db
from store.domain import Followup, Kind
from store.uow import UnitOfWork
from tests.server.caldav_support import (
    C,
    D,
    Dav,
    LiveServer,
    add_people,
    crm_call,
    crm_meeting,
    crm_todo,
    drop_schema,
    make_url,
    responses,
    retitle,
    start_server,
    stop_server,
    sync_token,
    vevent,
    vtodo,
)

pytestmark = pytest.mark.slow

COLLECTIONS = ("meetings", "tasks")
TITLES = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=24).filter(
    lambda s: bool(s.strip()))
DAYS = st.integers(min_value=0, max_value=60)
BASE = datetime(2026, 3, 2, 9, tzinfo=UTC)


class SyncMachine(RuleBasedStateMachine):
    backend: ClassVar[str] = "sqlite"
    root: ClassVar[Path] = Path(".")

    def __init__(self) -> None:
        super().__init__()
        folder = self.root / uuid.uuid4().hex[:8]
        folder.mkdir()
        url, self.schema = make_url(self.backend, folder)
        self.live: LiveServer
        self.thread: threading.Thread
        self.live, self.thread, self.httpd = start_server(url)
        add_people(self.live.engine)
        self.dav: Dav = self.live.dav("anna")
        self.local: dict[str, dict[str, str]] = {c: {} for c in COLLECTIONS}
        """collection -> href -> etag, as the client last synced it"""
        self.tokens = {c: "" for c in COLLECTIONS}
        self.counter = 0
        self.prunes = 0
        self.prunes_at_token = {c: 0 for c in COLLECTIONS}
        """how many prunes had run when each token was taken: a 403 needs a prune since"""

    def teardown(self) -> None:
        stop_server(self.live, self.thread, self.httpd)
        db.dispose_all()
        drop_schema(self.schema)

    # -- helpers ------------------------------------------------------------------------
    def followups(self) -> list[Followup]:
        with UnitOfWork(self.live.engine, write=False) as uow:
            return uow.followups.get_many(uow.followups.ids())

    def server_etags(self, collection: str) -> dict[str, str]:
        return self.dav.etags(f"anna/{collection}/")

    def pick(self, collection: str, index: int) -> str | None:
        hrefs = sorted(self.local[collection])
        return hrefs[index % len(hrefs)] if hrefs else None

    @initialize()
    def client_synced_before(self) -> None:
        """The client starts with tokens, as one that has synced before (a first sync by an
        empty token is never refused, so a prune could not show otherwise)."""
        crm_meeting(self.live.engine, title="Already there")
        crm_todo(self.live.engine, title="Already there")
        for collection in COLLECTIONS:
            self.sync(collection)

    # -- the CRM side ------------------------------------------------------------------
    @rule(kind=st.sampled_from([Kind.MEETING, Kind.TODO, Kind.CALL]), title=TITLES, days=DAYS)
    def crm_create(self, kind: Kind, title: str, days: int) -> None:
        when = BASE + timedelta(days=days)
        if kind is Kind.MEETING:
            crm_meeting(self.live.engine, title=title, start=when)
        elif kind is Kind.TODO:
            crm_todo(self.live.engine, title=title, deadline=when)
        else:
            crm_call(self.live.engine, title=title, deadline=when)

    @rule(index=st.integers(min_value=0, max_value=99), title=TITLES)
    def crm_retitle(self, index: int, title: str) -> None:
        found = self.followups()
        if found:
            f = found[index % len(found)]
            assert f.id is not None
            services.modify(self.live.engine, f.id, retitle(title))

    @rule(index=st.integers(min_value=0, max_value=99), hours=st.integers(min_value=-48, max_value=48))
    def crm_reschedule(self, index: int, hours: int) -> None:
        found = [f for f in self.followups() if f.kind is Kind.MEETING]
        if found:
            f = found[index % len(found)]
            assert f.id is not None

            def later(g: Followup, _uow: UnitOfWork) -> None:
                assert isinstance(g.start, datetime) and isinstance(g.end, datetime)
                g.start += timedelta(hours=hours)
                g.end += timedelta(hours=hours)

            services.modify(self.live.engine, f.id, later)

    @rule(index=st.integers(min_value=0, max_value=99))
    def crm_delete(self, index: int) -> None:
        found = self.followups()
        if found:
            f = found[index % len(found)]
            assert f.id is not None
            services.delete(self.live.engine, f.id)

    # -- the client side ---------------------------------------------------------------
    @rule(collection=st.sampled_from(COLLECTIONS), title=TITLES, days=DAYS)
    def client_put_new(self, collection: str, title: str, days: int) -> None:
        self.counter += 1
        uid = f"client-{self.counter}-{uuid.uuid4().hex[:6]}"
        when = BASE + timedelta(days=days)
        text = vevent(uid, _escape(title), start=when) if collection == "meetings" else \
            vtodo(uid, _escape(title), due=when)
        r = self.dav.put(f"anna/{collection}/{uid}.ics", text, If_None_Match="*")
        assert r.status_code == 201, (r.status_code, r.text)

    @precondition(lambda self: any(self.local.values()))
    @rule(collection=st.sampled_from(COLLECTIONS), index=st.integers(min_value=0, max_value=99), title=TITLES)
    def client_put_replace(self, collection: str, index: int, title: str) -> None:
        href = self.pick(collection, index)
        if href is None:
            return
        current = self.server_etags(collection).get(href)
        got = self.dav.get(href)
        uid = next((line[4:] for line in got.text.splitlines() if line.startswith("UID:")), "gone") \
            if got.status_code == 200 else "gone-" + uuid.uuid4().hex[:6]
        text = vevent(uid, _escape(title)) if collection == "meetings" else vtodo(uid, _escape(title))
        r = self.dav.put(href, text, If_Match=self.local[collection][href])
        expected = 204 if current == self.local[collection][href] else 412
        assert r.status_code == expected, (r.status_code, r.text)

    @precondition(lambda self: any(self.local.values()))
    @rule(collection=st.sampled_from(COLLECTIONS), index=st.integers(min_value=0, max_value=99))
    def client_delete(self, collection: str, index: int) -> None:
        href = self.pick(collection, index)
        if href is None:
            return
        current = self.server_etags(collection).get(href)
        r = self.dav.delete(href, If_Match=self.local[collection][href])
        # RFC 9110 13.2.1: preconditions are ignored when the answer would be neither 2xx nor 412
        expected = {404} if current is None else {200, 204} if current == self.local[collection][href] else {412}
        assert r.status_code in expected, (r.status_code, r.text)

    @rule(index=st.integers(min_value=0, max_value=99))
    def crm_delete_then_admin_prunes_every_removal(self, index: int) -> None:
        self.crm_delete(index)
        services.prune_tombstones(self.live.engine, timedelta(0))
        self.prunes += 1

    # -- syncing -----------------------------------------------------------------------
    @rule(collection=st.sampled_from(COLLECTIONS))
    def sync(self, collection: str) -> None:
        path = f"anna/{collection}/"
        r = self.dav.sync(path, self.tokens[collection])
        if r.status_code == 403:
            assert "valid-sync-token" in r.text, r.text
            assert self.prunes > self.prunes_at_token[collection], "403 without a prune since the token"
            self.local[collection], self.tokens[collection] = {}, ""
            r = self.dav.sync(path, "")
        assert r.status_code == 207, (r.status_code, r.text)
        self.prunes_at_token[collection] = self.prunes
        changed = []
        for resp in responses(r):
            if resp.status and " 404 " in resp.status + " ":
                self.local[collection].pop(resp.href, None)
            else:
                changed.append(resp.href)
        if changed:
            got = {resp.href: resp for resp in responses(self.dav.multiget(path, changed))}
            for href in changed:
                item = got[href]
                if item.status and " 404 " in item.status + " ":
                    self.local[collection].pop(href, None)
                else:
                    assert "BEGIN:VCALENDAR" in item.props[C + "calendar-data"]
                    self.local[collection][href] = item.props[D + "getetag"]
        self.tokens[collection] = sync_token(r)
        assert self.local[collection] == self.server_etags(collection)


def _escape(text: str) -> str:
    """SUMMARY value text (RFC 5545 3.3.11)."""
    return text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def test_a_client_that_syncs_by_token_ends_with_the_servers_objects(backend: str, tmp_path: Path) -> None:
    SyncMachine.backend = backend
    SyncMachine.root = tmp_path
    run_state_machine_as_test(SyncMachine, settings=settings(
        max_examples=20, stateful_step_count=15, deadline=None, database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]))
