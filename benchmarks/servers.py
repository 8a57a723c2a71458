"""The two servers under benchmark, each a subprocess on 127.0.0.1.

Ours runs ``python -m server.cli --database URL serve``; vanilla Radicale runs
``python -m radicale`` with htpasswd auth, ``owner_only`` rights and its
filesystem storage, filled by writing the very .ics texts our store rendered
straight into its collection folders (loading it by PUT is O(N^2): Radicale
reads every item for the UID check of each new PUT).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from server.services.projection import MEETINGS, TASKS

ROOT = Path(__file__).resolve().parents[1]
COMPONENTS = {MEETINGS: "VEVENT", TASKS: "VTODO"}
TITLES = {MEETINGS: "Meetings", TASKS: "To-dos and calls"}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ServerProcess:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: IO[bytes]

    def wait_ready(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}; see {self.log.name}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not listen on port {self.port} within {timeout:.0f} s")

    def peak_rss_mib(self) -> float:
        """The peak resident set so far (VmHWM) of the process that serves the
        requests: Radicale's one process; for ours, gunicorn's worker (a child
        of the arbiter, which built the application before forking it, so the
        pages it holds are the worker's too, shared copy-on-write), or the
        process itself when it has no child."""
        peaks = [_vm_hwm_kib(pid) for pid in [self.process.pid, *_children(self.process.pid)]]
        found = [p for p in peaks if p is not None]
        return max(found) / 1024 if found else float("nan")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.log.close()


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(c) for c in text.split()]


def _vm_hwm_kib(pid: int) -> int | None:
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return None


def _spawn(name: str, argv: list[str], port: int, log_path: Path, env: dict[str, str] | None = None) -> ServerProcess:
    log = open(log_path, "ab")  # closed by ServerProcess.stop
    process = subprocess.Popen(argv, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env,
                               stdin=subprocess.DEVNULL)
    server = ServerProcess(name, port, process, log)
    try:
        server.wait_ready()
    except BaseException:
        server.stop()
        raise
    return server


def start_ours(database: str, workdir: Path, wrap: list[str] | None = None) -> ServerProcess:
    """``followups serve`` on a free port, without the failed-login delay.
    ``wrap`` prefixes the command (a profiler, say)."""
    port = free_port()
    env = {**os.environ, "FOLLOWUPS_AUTH_DELAY": "0", "FOLLOWUPS_LOG_LEVEL": "error"}
    env.pop("FOLLOWUPS_CONFIG", None)
    argv = [*(wrap or [sys.executable]), "-m", "server.cli", "--database", database, "serve",
            "--host", "127.0.0.1", "--port", str(port)]
    return _spawn("our server", argv, port, workdir / "ours.log", env)


# -- Radicale -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RadicaleSetup:
    folder: Path
    config: Path

    @property
    def user_folder(self) -> Path:
        return self.folder / "collection-root" / "bench"


def write_radicale(workdir: Path, login: str, password: str, texts: dict[str, dict[str, str]]) -> RadicaleSetup:
    """Radicale's filesystem storage holding the same objects, and its config."""
    folder = workdir / "radicale" / "collections"
    user = folder / "collection-root" / login
    for name, objects in texts.items():
        coll = user / name
        coll.mkdir(parents=True, exist_ok=True)
        props = {"tag": "VCALENDAR", "C:supported-calendar-component-set": COMPONENTS[name],
                 "D:displayname": f"Bench User - {TITLES[name]}"}
        (coll / ".Radicale.props").write_text(json.dumps(props), encoding="utf-8")
        for href, text in objects.items():
            (coll / href).write_bytes(text.encode("utf-8"))
    users = workdir / "radicale" / "users"
    users.write_text(f"{login}:{password}\n", encoding="utf-8")
    config = workdir / "radicale" / "config"
    config.write_text(
        "[server]\nhosts = 127.0.0.1:5232\n"
        f"[auth]\ntype = htpasswd\nhtpasswd_filename = {users}\nhtpasswd_encryption = plain\ndelay = 0\n"
        "[rights]\ntype = owner_only\n"
        f"[storage]\nfilesystem_folder = {folder}\n"
        "[web]\ntype = none\n"
        "[logging]\nlevel = warning\n", encoding="utf-8")
    return RadicaleSetup(folder, config)


def start_radicale(setup: RadicaleSetup, workdir: Path) -> ServerProcess:
    port = free_port()
    argv = [sys.executable, "-m", "radicale", "--config", str(setup.config), "--server-hosts", f"127.0.0.1:{port}"]
    return _spawn("Radicale", argv, port, workdir / "radicale.log")


def drop_radicale_cache(setup: RadicaleSetup) -> int:
    """Delete every ``.Radicale.cache`` folder (item cache and sync-token
    history), as after importing files or upgrading Radicale."""
    dropped = 0
    for cache in setup.folder.rglob(".Radicale.cache"):
        shutil.rmtree(cache)
        dropped += 1
    return dropped
