"""The benchmark's CI mode: a small dataset, every answer of both servers
checked, no timing asserted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_check_only_exits_0_on_sqlite(tmp_path: Path) -> None:
    report = tmp_path / "bench.md"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench", "--check-only", "--n", "200", "--out", str(report)],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    text = report.read_text(encoding="utf-8")
    assert "all checked, all right" in text
    assert "| incremental sync after one change | meetings |" in text
