"""Running ``followups`` as a subprocess, the way a user or a script does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.cli.forkserver import SERVER

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    def error_line(self) -> str:
        """The one line an expected error prints (asserting it is one line, without a traceback)."""
        lines = self.err.strip().splitlines()
        assert len(lines) == 1, self.err
        assert lines[0].startswith("followups: error: "), self.err
        assert "Traceback" not in self.err
        return lines[0]


def run_cli(url: str, *args: str, stdin: str = "", timeout: float = 120) -> Result:
    """``followups --database URL ARGS...`` in a process of its own, warnings as errors: forked
    from an interpreter that has imported the CLI (tests.cli.forkserver), not started afresh."""
    env = {k: v for k, v in os.environ.items() if k != "FOLLOWUPS_DATABASE"}
    return Result(*SERVER.run(["--database", url, *args], stdin, env))


def run_python(code: str, *argv: str, timeout: float = 120) -> Result:
    """``python -c CODE ARGV...`` in the project (the app's own packages, not the tests' folders)."""
    return _run(["-c", code, *argv], "", timeout)


def _run(args: list[str], stdin: str, timeout: float) -> Result:
    env = {k: v for k, v in os.environ.items() if k != "FOLLOWUPS_DATABASE"}
    proc = subprocess.run([sys.executable, "-W", "error", *args], cwd=ROOT, input=stdin, capture_output=True,
                          text=True, timeout=timeout, env=env)
    return Result(proc.returncode, proc.stdout, proc.stderr)


def ok(url: str, *args: str, stdin: str = "") -> Result:
    result = run_cli(url, *args, stdin=stdin)
    assert result.code == 0, f"followups {' '.join(args)} failed ({result.code}): {result.err}"
    return result


BATCH = """
import contextlib, io, json, sys
from server.cli.main import main

results = []
for argv, stdin in json.loads(sys.stdin.read()):
    out, err = io.StringIO(), io.StringIO()
    sys.stdin = io.StringIO(stdin)
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    results.append([code, out.getvalue(), err.getvalue()])
sys.stdout.write(json.dumps(results))
"""


def run_batch(url: str, commands: list[tuple[list[str], str]], timeout: float = 300) -> list[Result]:
    """Many ``followups`` commands through ``server.cli.main`` in one interpreter (start-up is
    most of a command's cost): each is ``(args, stdin)``, and gets its own stdout, stderr and
    exit code, as if run alone."""
    payload = json.dumps([[["--database", url, *args], stdin] for args, stdin in commands])
    proc = _run(["-c", BATCH], payload, timeout)
    assert proc.code == 0, proc.err
    return [Result(code, out, err) for code, out, err in json.loads(proc.out)]
