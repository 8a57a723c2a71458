"""``followups demo`` loads in one transaction: stopped midway, it leaves the store empty.

What broke: a demo load killed midway left users and some follow-ups behind; ``init`` called
that store ready and ``demo`` refused it for good ("already holds users"). Each test stops the
load at the same point, deterministically: after the first batch of follow-ups is written and
projected and the second inserted, when the projection of the second is reached.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import Any

import pytest
from sqlalchemy import Engine

from server import demo
from server.services import projection
from server.services.transaction import transaction
from tests.cli.clirun import ROOT, ok
from tests.cli.dbdump import dump_tables

STOP_AT_SECOND_BATCH = """
import sys, time
from server.cli.main import main
from server.services import projection

real, calls = projection.project_new, []

def project_new(uow, d, followups):
    real(uow, d, followups)
    calls.append(len(followups))
    if len(calls) == 2:
        print("midway", flush=True)
        time.sleep(600)

projection.project_new = project_new
sys.exit(main(["--database", sys.argv[1], "demo"]))
"""


def _assert_empty(engine: Engine, url: str) -> None:
    with transaction(engine, write=False) as uow:
        assert uow.users.list() == []
        assert uow.resources.list() == []
        assert uow.companies.list() == []
        assert uow.followups.count() == 0
    tables = dump_tables(url)
    assert tables["calendar_objects"] == [] and tables["collections"] == [] and tables["changes"] == []


def test_a_failing_batch_leaves_the_store_as_it_was(engine: Engine, db_url: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    before = dump_tables(db_url)
    real, calls = projection.project_new, []

    def project_new(uow: Any, d: Any, followups: list[Any]) -> None:
        calls.append(len(followups))
        if len(calls) == 2:
            raise RuntimeError("the second batch fails")
        real(uow, d, followups)

    monkeypatch.setattr(projection, "project_new", project_new)
    with pytest.raises(RuntimeError, match="second batch"):
        demo.load_demo(engine)
    monkeypatch.undo()
    assert calls == [25, 25]
    _assert_empty(engine, db_url)
    assert dump_tables(db_url) == before

    ticks: list[tuple[int, int]] = []
    info = demo.load_demo(engine, progress=lambda done, total: ticks.append((done, total)))
    assert len(info.users) == 4 and info.followups >= 190
    done, total = ticks[-1]
    assert done == total == len(demo.USERS) + 2 + info.followups
    assert [d for d, _ in ticks] == sorted(d for d, _ in ticks)
    assert len({d for d, t in ticks if t == total and d > len(demo.USERS) + 2}) == -(-info.followups // 25), \
        "one progress step per batch of follow-ups"
    assert len(dump_tables(db_url)["calendar_objects"]) >= info.followups


def test_demo_killed_midway_leaves_an_empty_store(engine: Engine, db_url: str) -> None:
    """SIGKILL while the demo's transaction is open (the second batch written, not committed)."""
    env = {k: v for k, v in os.environ.items() if k != "FOLLOWUPS_DATABASE"}
    proc = subprocess.Popen([sys.executable, "-W", "error", "-c", STOP_AT_SECOND_BATCH, db_url], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line == "midway\n", f"the load did not reach its second batch: {line!r}"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    _assert_empty(engine, db_url)
    assert ok(db_url, "user", "list", "--json").json() == []
    loaded = ok(db_url, "demo", "--json").json()
    assert [u["login"] for u in loaded["users"]] == ["anna", "bjorn", "carla", "david"]
    assert len(ok(db_url, "user", "list", "--json").json()) == 4
