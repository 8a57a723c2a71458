"""A zygote for ``followups`` commands: one interpreter imports the CLI once
(with warnings as errors), then forks a child for each command.

Start-up (importing SQLAlchemy, icalendar, Radicale's pieces) is about a
second of every ``followups`` run on the CI machine and most of the CLI
tests' time. A forked child starts from the imported modules and nothing
else: the zygote never opens a store or runs a command, and each child gets
the caller's environment, its own stdin, and its stdout and stderr on file
descriptors 1 and 2 (so whatever writes there, Python or not, is captured),
and exits with the command's code, as a fresh ``followups`` would.
"""

from __future__ import annotations

import atexit
import json
import subprocess
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

ZYGOTE = r"""
import contextlib, io, json, os, sys, tempfile
from server.cli.main import main

requests = sys.stdin
reply = os.fdopen(os.dup(1), "w")
for line in requests:
    request = json.loads(line)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        pid = os.fork()
        if pid == 0:
            code = 70
            try:
                os.environ.clear()
                os.environ.update(request["env"])
                os.dup2(out.fileno(), 1)
                os.dup2(err.fileno(), 2)
                sys.stdin = io.StringIO(request["stdin"])
                sys.stdout = io.TextIOWrapper(os.fdopen(1, "wb", closefd=False), encoding="utf-8", line_buffering=True)
                sys.stderr = io.TextIOWrapper(os.fdopen(2, "wb", closefd=False), encoding="utf-8", line_buffering=True)
                try:
                    code = main(request["argv"])
                except SystemExit as exc:
                    code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            except BaseException:
                import traceback
                traceback.print_exc()
                code = 70
            finally:
                try:
                    sys.stdout.flush()
                    sys.stderr.flush()
                finally:
                    os._exit(int(code or 0))
        _, status = os.waitpid(pid, 0)
        out.seek(0)
        err.seek(0)
        code = os.waitstatus_to_exitcode(status)
        reply.write(json.dumps([code, out.read().decode("utf-8", "replace"),
                                err.read().decode("utf-8", "replace")]) + "\n")
        reply.flush()
"""


class ForkServer:
    """One zygote per test session, started on first use."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[str] | None = None
        self.lock = threading.Lock()

    def run(self, argv: list[str], stdin: str, env: dict[str, str]) -> tuple[int, str, str]:
        with self.lock:
            if self.proc is None or self.proc.poll() is not None:
                self.proc = subprocess.Popen([sys.executable, "-W", "error", "-c", ZYGOTE], cwd=ROOT, text=True,
                                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
                atexit.register(self.close)
            assert self.proc.stdin is not None and self.proc.stdout is not None
            self.proc.stdin.write(json.dumps({"argv": argv, "stdin": stdin, "env": env}) + "\n")
            self.proc.stdin.flush()
            line = self.proc.stdout.readline()
            assert line, "the followups zygote died"
            code, out, err = json.loads(line)
            return int(code), out, err

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            self.proc.wait(timeout=10)


SERVER = ForkServer()
