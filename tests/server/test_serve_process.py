"""``followups serve`` as a production process (gunicorn, server.dav.process): HTTP/1.1
keep-alive, idle and request timeouts, the connection limit, TLS, several worker
processes, a graceful stop, one-line start-up errors, the failed-login delay that
holds no thread others need (server.dav.logindelay) and the health URL
(server.dav.health). Every server here is a real ``followups serve`` subprocess."""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import create_engine

from server.cli.main import main
from server.dav.health import Health
from server.dav.logindelay import TOO_MANY, LoginDelay
from server.services import followups as services
from tests.conftest import PG_URL
from tests.server.caldav_support import PASSWORD, add_people, followups_by_uid, vevent

ROOT = Path(__file__).resolve().parents[2]
AUTH = "Basic " + base64.b64encode(f"anna:{PASSWORD}".encode()).decode()
WRONG = "Basic " + base64.b64encode(b"anna:not-the-password").decode()
NOBODY = "Basic " + base64.b64encode(b"mallory:guess").decode()
"""A failed login that costs no password hash: what the attackers below send, so that
they measure threads held asleep, not the CPU that hashing (or any request in a tight
loop) takes on a loaded machine: floods are for the proxy's rate limits, see docs/deploy."""


@dataclass
class Served:
    url: str
    port: int
    proc: subprocess.Popen[str]
    err: Path

    def stderr(self) -> str:
        return self.err.read_text()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[str]:
    """A SQLite store with anna (password PASSWORD), bjorn and a room."""
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    engine = services.open_store(url)
    add_people(engine)
    engine.dispose()
    yield url


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Any]:
    """Start ``followups --database URL serve --port 0 ARGS...``; stopped (SIGKILL if need be) at the end."""
    started: list[subprocess.Popen[str]] = []

    def start(url: str, *args: str) -> Served:
        n = len(started)
        out, err = tmp_path / f"serve{n}.out", tmp_path / f"serve{n}.err"
        with out.open("w") as stdout, err.open("w") as stderr:
            proc = subprocess.Popen([sys.executable, "-m", "server.cli", "--database", url, "serve", "--port", "0",
                                     "--config", "", *args], cwd=ROOT, stdout=stdout, stderr=stderr, text=True)
        started.append(proc)
        deadline = time.monotonic() + 90
        while not (found := re.search(r"CalDAV URL: (https?)://127\.0\.0\.1:(\d+)/", out.read_text())):
            assert proc.poll() is None, err.read_text()
            assert time.monotonic() < deadline, err.read_text()
            time.sleep(0.1)
        return Served(found.group(0).removeprefix("CalDAV URL: "), int(found.group(2)), proc, err)

    try:
        yield start
    finally:
        for proc in started:
            if proc.poll() is None:
                proc.kill()
            proc.wait(30)


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=30)


def closed_after(sock: socket.socket, limit: float) -> float:
    """Seconds until the server closes ``sock`` (reading and dropping what it sends);
    fails when it is still open after ``limit`` seconds."""
    started = time.monotonic()
    sock.settimeout(limit)
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        pass
    except TimeoutError:
        pytest.fail(f"the server kept the connection open for {limit} s")
    return time.monotonic() - started


def propfind(conn: http.client.HTTPConnection, auth: str = AUTH) -> http.client.HTTPResponse:
    conn.request("PROPFIND", "/anna/", headers={"Authorization": auth, "Depth": "0"})
    answer = conn.getresponse()
    answer.read()
    return answer


def children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(entry.name))
        except (OSError, IndexError, ValueError):
            continue
    return found


def test_keep_alive_idle_and_request_timeouts_health_and_two_workers(serve: Any, store: str) -> None:
    server = serve(store, "--workers", "2", "--keepalive", "1", "--timeout", "2", "--auth-delay", "0")

    # HTTP/1.1 keep-alive: two requests over one connection.
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    first = propfind(conn)
    sock = conn.sock
    second = propfind(conn)
    assert (first.status, second.status) == (207, 207)
    assert first.version == 11 and conn.sock is sock and not second.will_close
    conn.close()

    # The health URL, without a login.
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.request("GET", "/.health")
    answer = conn.getresponse()
    assert (answer.status, answer.getheader("Content-Type")) == (200, "application/json")
    assert json.loads(answer.read()) == {"status": "ok", "database": "ok"}
    conn.request("HEAD", "/.health")
    answer = conn.getresponse()
    assert answer.status == 200 and answer.read() == b""
    conn.close()

    # An idle keep-alive connection is closed after `keepalive` seconds.
    sock = connect(server.port)
    sock.sendall(b"GET /.health HTTP/1.1\r\nHost: x\r\n\r\n")
    assert b"200 OK" in sock.recv(65536)
    assert closed_after(sock, 20) < 15
    sock.close()

    # Half the headers, then nothing: disconnected after about `timeout` seconds.
    sock = connect(server.port)
    sock.sendall(b"PROPFIND /anna/ HTTP/1.1\r\nHost: x\r\n")
    assert 1.5 < closed_after(sock, 30) < 15
    sock.close()

    # Headers a byte every 0.3 s (each read is quick, the request never ends): the same.
    sock = connect(server.port)
    request = b"PROPFIND /anna/ HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200
    started = time.monotonic()
    try:
        for byte in request:
            sock.sendall(bytes([byte]))
            time.sleep(0.3)
            assert time.monotonic() - started < 20, "still accepting header bytes after 20 s"
    except (BrokenPipeError, ConnectionResetError):
        pass
    assert 1.5 < time.monotonic() - started < 20
    sock.close()

    # A body that stops halfway: disconnected, and nothing is stored.
    body = vevent("slow-body", "Slow body").encode()
    sock = connect(server.port)
    sock.sendall(b"PUT /anna/meetings/slow-body.ics HTTP/1.1\r\nHost: x\r\nAuthorization: " + AUTH.encode()
                 + b"\r\nContent-Type: text/calendar\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n"
                 + body[: len(body) // 2])
    assert 1.5 < closed_after(sock, 30) < 15
    sock.close()
    engine = services.open_store(store)
    assert followups_by_uid(engine, "slow-body") == []
    engine.dispose()

    # --workers 2: two worker processes under the one that was started.
    deadline = time.monotonic() + 30
    while len(workers := children(server.proc.pid)) != 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(workers) == 2, workers
    assert "Traceback" not in server.stderr()


def test_max_connections_and_a_quiet_ctrl_c(serve: Any, store: str) -> None:
    server = serve(store, "--workers", "1", "--threads", "2", "--max-connections", "2", "--timeout", "30",
                   "--auth-delay", "0")
    silent = [connect(server.port), connect(server.port)]
    time.sleep(1)
    waiting = connect(server.port)
    waiting.sendall(b"GET /.health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    waiting.settimeout(2)
    with pytest.raises(TimeoutError):
        waiting.recv(65536)  # not taken: two connections are open already
    for sock in silent:
        sock.close()
    waiting.settimeout(30)
    assert waiting.recv(65536).startswith(b"HTTP/1.1 200 OK")
    waiting.close()

    server.proc.send_signal(signal.SIGINT)
    assert server.proc.wait(30) == 0
    assert "Traceback" not in server.stderr() and "KeyboardInterrupt" not in server.stderr()


def test_sigterm_lets_a_put_under_way_finish(serve: Any, store: str) -> None:
    server = serve(store, "--graceful-timeout", "20", "--auth-delay", "0")
    body = vevent("graceful-put", "Sent in two halves").encode()
    sock = connect(server.port)
    sock.sendall(b"PUT /anna/meetings/graceful-put.ics HTTP/1.1\r\nHost: x\r\nAuthorization: " + AUTH.encode()
                 + b"\r\nContent-Type: text/calendar\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n"
                 + body[: len(body) // 2])
    time.sleep(1)
    server.proc.send_signal(signal.SIGTERM)
    time.sleep(1)
    sock.sendall(body[len(body) // 2:])
    answer = sock.makefile("rb").readline()
    sock.close()
    assert answer.startswith(b"HTTP/1.1 201"), answer
    assert server.proc.wait(30) == 0
    engine = services.open_store(store)
    assert [f.title for f in followups_by_uid(engine, "graceful-put")] == ["Sent in two halves"]
    engine.dispose()
    assert "Traceback" not in server.stderr()


def test_https_with_certificate_and_key(serve: Any, store: str, tmp_path: Path) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    server = serve(store, "--certificate", str(cert), "--key", str(key), "--auth-delay", "0")
    assert server.url.startswith("https://")
    answer = requests.request("PROPFIND", f"{server.url}anna/", auth=("anna", PASSWORD), headers={"Depth": "0"},
                              verify=str(cert), timeout=30)
    assert answer.status_code == 207, answer.text
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"http://127.0.0.1:{server.port}/.health", timeout=30)  # plain HTTP is not spoken


# -- start-up errors: one line each -------------------------------------------------------


def _pem(tmp_path: Path, name: str) -> tuple[Path, Path]:
    cert, key = tmp_path / f"{name}.crt", tmp_path / f"{name}.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=x"],
                   check=True, capture_output=True)
    return cert, key


def test_each_start_up_error_is_one_line(store: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command")
    cert, key = _pem(tmp_path, "a")
    other_cert, _ = _pem(tmp_path, "b")
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    cases = {
        "busy port": (["--port", str(busy.getsockname()[1])], "cannot listen on 127.0.0.1:"),
        "bad port": (["--port", "70000"], "port is from 0 to 65535"),
        "not an address": (["--host", "no-such-host.invalid"], "not an address of this machine"),
        "an address of another machine": (["--host", "192.0.2.1"], "cannot listen on 192.0.2.1:"),
        "certificate without key": (["--certificate", str(cert)], "needs its key"),
        "key without certificate": (["--key", str(key)], "needs its certificate"),
        "missing certificate": (["--certificate", str(tmp_path / "none.pem"), "--key", str(key)],
                                "cannot read the TLS certificate"),
        "not a certificate": (["--certificate", str(garbage), "--key", str(key)], "not a usable pair"),
        "certificate and key that do not match": (["--certificate", str(other_cert), "--key", str(key)],
                                                  "not a usable pair"),
    }
    try:
        for name, (args, expected) in cases.items():
            try:
                code = main(["--database", store, "serve", "--config", "", "--port", "0", *args])
            except SystemExit as exc:  # argparse's own errors
                code = int(exc.code or 0)
            out, err = capsys.readouterr()
            assert code != 0, name
            assert out == "", name
            lines = err.splitlines()
            assert len(lines) == 1 and lines[0].startswith("followups: error: ") and expected in lines[0], (name, err)
    finally:
        busy.close()


# -- the failed-login delay ----------------------------------------------------------------


def test_wrong_passwords_do_not_slow_down_everyone_else(serve: Any, store: str) -> None:
    server = serve(store, "--workers", "1", "--threads", "8", "--auth-delay", "1")

    def timed(auth: str) -> tuple[int, float]:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        started = time.monotonic()
        status = propfind(conn, auth).status
        conn.close()
        return status, time.monotonic() - started

    # Quiet server: a wrong password is answered after at least half the delay.
    for _ in range(2):
        status, seconds = timed(WRONG)
        assert status == 401 and seconds >= 0.5

    def p90(samples: list[float]) -> float:
        return sorted(samples)[int(len(samples) * 0.9) - 1]

    alone = [timed(AUTH) for _ in range(10)]
    assert all(status == 207 for status, _ in alone)

    stop = threading.Event()
    seen: dict[int, int] = {}
    retry_after: set[str | None] = set()

    def attacker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        while not stop.is_set():
            answer = propfind(conn, NOBODY)
            seen[answer.status] = seen.get(answer.status, 0) + 1
            if answer.status == 429:
                retry_after.add(answer.getheader("Retry-After"))
                stop.wait(0.2)  # cheap requests in a tight loop are a CPU flood: the proxy's rate limit
            if answer.will_close:
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        conn.close()

    # Twice as many attackers as threads: were each failed login to sleep in its thread
    # (Radicale's way), the good client's requests would queue behind a second of sleep.
    attackers = [threading.Thread(target=attacker) for _ in range(16)]
    for thread in attackers:
        thread.start()
    try:
        time.sleep(1)
        attacked = [timed(AUTH) for _ in range(20)]
    finally:
        stop.set()
        for thread in attackers:
            thread.join(60)
    assert all(status == 207 for status, _ in attacked)
    assert p90([s for _, s in attacked]) < 0.5, (alone, attacked)
    assert seen.get(401, 0) > 0 and seen.get(429, 0) > 0, seen
    assert retry_after == {"1"}
    assert "Traceback" not in server.stderr()


def _call(app: Any, environ: dict[str, Any]) -> tuple[str, dict[str, str], bytes]:
    got: list[Any] = []
    body = app(environ, lambda status, headers, exc_info=None: got.extend([status, dict(headers)]))
    try:
        data = b"".join(body)
    finally:
        if hasattr(body, "close"):
            body.close()
    return got[0], got[1], data


def test_the_login_delay_sleeps_only_in_a_free_slot() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response(environ["answer"], [("Content-Type", "text/plain")])
        return [b"radicale's body"]

    slept: list[float] = []
    delay = LoginDelay(app, 2.0, slots=1, sleep=slept.append)
    assert _call(delay, {"answer": "401 Unauthorized"})[0] == "401 Unauthorized"  # no credentials: no delay
    assert _call(delay, {"answer": "207 Multi-Status", "HTTP_AUTHORIZATION": AUTH})[0] == "207 Multi-Status"
    assert slept == []
    assert _call(delay, {"answer": "401 Unauthorized", "HTTP_AUTHORIZATION": WRONG})[2] == b"radicale's body"
    assert _call(delay, {"answer": "403 Forbidden", "HTTP_AUTHORIZATION": AUTH})[0] == "403 Forbidden"
    assert len(slept) == 2 and all(1.0 <= s <= 3.0 for s in slept)

    delay.slots.acquire()  # the one slot is taken: answered at once
    status, headers, body = _call(delay, {"answer": "401 Unauthorized", "HTTP_AUTHORIZATION": WRONG})
    delay.slots.release()
    assert (status, headers["Retry-After"], body) == ("429 Too Many Requests", "2", TOO_MANY)
    assert len(slept) == 2


# -- the health URL when the database is gone -----------------------------------------------


def _unreachable(backend: str, tmp_path: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'no-such-folder' / 'crm.db'}"
    if not PG_URL:
        pytest.skip("PostgreSQL: set FOLLOWUPS_TEST_PG=postgresql://postgres@127.0.0.1:5432/test")
    base = PG_URL.split("?")[0].rsplit("/", 1)[0]
    return f"{base}/no_such_database_{os.getpid()}".replace("postgresql://", "postgresql+psycopg://", 1)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_health_is_503_when_the_database_cannot_be_reached(backend: str, tmp_path: Path) -> None:
    url = _unreachable(backend, tmp_path)
    engine = create_engine(url)
    try:
        app = Health(lambda environ, start_response: pytest.fail("passed on"), engine)
        status, headers, body = _call(app, {"PATH_INFO": "/.health", "REQUEST_METHOD": "GET"})
        assert (status, headers["Content-Type"]) == ("503 Service Unavailable", "application/json")
        assert json.loads(body) == {"status": "error", "database": "unavailable"}
        assert "no_such" not in body.decode() and "crm.db" not in body.decode()
        assert _call(app, {"PATH_INFO": "/.health", "REQUEST_METHOD": "HEAD"})[:3:2] == ("503 Service Unavailable",
                                                                                       b"")
    finally:
        engine.dispose()



# -- docs/deploy -------------------------------------------------------------------------------


def test_the_deploy_examples_name_real_serve_flags() -> None:
    """The systemd unit's ExecStart and the Containerfile's CMD are commands that
    ``followups`` accepts, and their limits agree with the server's defaults."""
    from server import config
    from server.cli.main import build_parser

    deploy = ROOT / "docs" / "deploy"
    unit = (deploy / "followup-caldav.service").read_text()
    (exec_start,) = re.findall(r"(?m)^ExecStart=(.*)$", unit)
    command = shlex.split(exec_start)
    assert Path(command[0]).name == "followups"
    assert build_parser().parse_args(command[1:]).command == "serve"
    (stop,) = re.findall(r"(?m)^TimeoutStopSec=(\d+)$", unit)
    assert int(stop) > config.SCHEMA["graceful_timeout"]["value"]
    assert re.search(r"(?m)^KillSignal=SIGTERM$", unit) and re.search(r"(?m)^Restart=on-failure$", unit)

    containerfile = (deploy / "Containerfile").read_text()
    (cmd,) = re.findall(r"(?m)^CMD (.*)$", containerfile)
    command = json.loads(cmd)
    assert command[0] == "followups"
    args = build_parser().parse_args(command[1:])
    assert (args.command, args.host) == ("serve", "0.0.0.0")
    assert f"EXPOSE {args.port}" in containerfile and "/.health" in containerfile

    max_body = config.SCHEMA["max_body"]["value"]
    assert f"client_max_body_size {max_body};" in (deploy / "nginx.conf").read_text()
    assert f"max_size {max_body // 1_000_000}MB" in (deploy / "Caddyfile").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "followups serve --workers 2" in readme
    assert build_parser().parse_args(["serve", "--workers", "2"]).workers == 2
