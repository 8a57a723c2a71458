"""The load test's CI mode: a few devices for a few seconds, on SQLite and on
PostgreSQL with two server processes. Asserts what must hold under any load
(no errors, every device ends with the server's listing and every write),
never a timing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_devices_see_every_write_without_errors(db_url: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.load", "--database", db_url, "--no-fresh-schema", "--workers", "2",
         "--devices", "10", "--users", "5", "--meetings", "10", "--seconds", "4", "--interval", "0.5",
         "--write-every", "2", "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    result = json.loads(done.stdout)
    assert result["errors"] == {"5xx": 0, "connection": 0, "timeout": 0, "unexpected 4xx": 0, "wrong answer": 0}
    assert result["consistent"], result["inconsistencies"]
    assert result["throughput"] > 0
    assert result["kinds"]["sync"]["count"] > 0 and result["kinds"]["multiget"]["count"] > 0
    # Each of the 10 devices writes on every second cycle, alternately new and changed events:
    # their final state was checked against every one of these writes.
    assert result["writes"]["new"] > 0 and result["writes"]["changed"] + result["writes"]["conflicts_412"] > 0
