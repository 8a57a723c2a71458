"""The benchmark's CI mode: a small dataset, every answer of both servers
checked, no timing asserted; on SQLite and, in a schema of its own that it
drops afterwards, on PostgreSQL."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from store import db
from tests.conftest import PG_URL

ROOT = Path(__file__).resolve().parents[2]


def check_only(tmp_path: Path, *options: str) -> tuple[str, str]:
    """Run ``--check-only`` at N=200; the markdown report and the progress lines."""
    report = tmp_path / "bench.md"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench", "--check-only", "--n", "200", "--out", str(report), *options],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    return report.read_text(encoding="utf-8"), done.stderr


def test_check_only_exits_0_on_sqlite(tmp_path: Path) -> None:
    report, _ = check_only(tmp_path)
    assert "all checked, all right" in report
    assert "| incremental sync after one change | meetings |" in report
    for row in ("PUT of a changed object (If-Match)", "DELETE of an object (If-Match)"):
        for coll in ("meetings", "tasks"):
            assert f"| {row} | {coll} |" in report
    assert "our store on SQLite 3." in report
    assert "| free/busy of a week (free-busy-query REPORT) | meetings |" in report
    assert re.search(r"note: free/busy of the week: both servers return the same [1-9]\d* busy periods", report)


@pytest.mark.postgres
def test_check_only_on_postgresql_drops_its_schema(tmp_path: Path) -> None:
    if not PG_URL:
        pytest.skip("PostgreSQL: set FOLLOWUPS_TEST_PG=postgresql://postgres@127.0.0.1:5432/test")
    report, progress = check_only(tmp_path, "--database", PG_URL, "--others", "2", "--others-n", "30")
    assert "all checked, all right" in report
    assert "other users in the store: 2 users with 30 follow-ups each, 60 in all" in report
    assert "the store holds 260 follow-ups" in report
    assert "N = 200 follow-ups, our store on PostgreSQL" in report
    assert re.search(r"our store on PostgreSQL \d+\.\d+", report)
    found = re.search(r"PostgreSQL schema (bench_\w+)", progress)
    assert found, progress
    admin = create_engine(db.normalize_url(PG_URL))
    with admin.connect() as conn:
        left = conn.execute(text("SELECT count(*) FROM pg_namespace WHERE nspname = :n"), {"n": found[1]}).scalar()
    admin.dispose()
    assert left == 0


def test_the_free_busy_check_reads_both_servers_answers() -> None:
    """FBTYPE absent is BUSY; folded lines, several periods on a line and
    touching periods are one busy time; FREE is kept apart (Radicale lists
    cancelled events' time so); a period without an end cannot be checked."""
    from datetime import UTC, datetime

    import benchmarks.bench as bench
    from benchmarks.dav import WrongAnswer

    text = ("BEGIN:VCALENDAR\r\nBEGIN:VFREEBUSY\r\nFREEBUSY:20260302T080000Z/20260302T090000Z,2026030\r\n"
            " 2T090000Z/20260302T100000Z\r\nFREEBUSY;FBTYPE=FREE:20260303T080000Z/20260303T090000Z\r\n"
            "FREEBUSY;FBTYPE=BUSY-TENTATIVE:20260302T093000Z/20260302T110000Z\r\nEND:VFREEBUSY\r\n"
            "END:VCALENDAR\r\n")
    busy = bench.parse_freebusy(text)

    def at(day: int, hour: int, minute: int = 0) -> datetime:
        return datetime(2026, 3, day, hour, minute, tzinfo=UTC)

    assert busy == {"BUSY": [(at(2, 8), at(2, 10))], "FREE": [(at(3, 8), at(3, 9))],
                    "BUSY-TENTATIVE": [(at(2, 9, 30), at(2, 11))]}
    assert bench._all_busy(busy) == [(at(2, 8), at(2, 11))]
    assert bench._minus([(at(2, 8), at(2, 11))], [(at(2, 9), at(2, 10))]) == [(at(2, 8), at(2, 9)),
                                                                            (at(2, 10), at(2, 11))]
    with pytest.raises(WrongAnswer):
        bench.parse_freebusy(text.replace("20260302T093000Z/20260302T110000Z", "20260302T093000Z/PT1H"))
    with pytest.raises(WrongAnswer):
        bench.parse_freebusy("BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n")


def test_the_memory_probe_reads_the_worker_after_each_request(tmp_path: Path) -> None:
    """docs/memory.md's per-request figures: benchmarks.memprobe on a kept benchmark store."""
    check_only(tmp_path, "--keep", str(tmp_path / "kept"))
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.memprobe", f"sqlite:///{tmp_path / 'kept' / 'bench.db'}", "--rounds", "1"],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    rows = re.findall(r"^(.+?)\s+VmRSS\s+(\d+)\s+VmHWM\s+(\d+) MiB$", done.stdout, re.MULTILINE)
    assert [label.strip() for label, _, _ in rows][:3] == [
        "start (after /.health)", "meetings: getctag", "meetings: PROPFIND depth 1"]
    assert len(rows) == 14
    assert all(0 < int(rss) <= int(hwm) for _, rss, hwm in rows)
    assert [int(hwm) for _, _, hwm in rows] == sorted(int(hwm) for _, _, hwm in rows)  # a high-water mark
    synced = re.search(r"meetings: (\d+) by multiget", done.stdout)
    assert synced and int(synced[1]) > 0
