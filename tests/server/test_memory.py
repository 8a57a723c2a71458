"""Memory stays flat under hostile input (issue 11): ``followups serve`` as a
subprocess (the production server, gunicorn), a warm-up of ordinary requests,
then the whole hostile corpus; the peak resident memory of the process tree
(the sum of each process's VmHWM) is within 1.5x of its resident memory
(VmRSS) after the warm-up.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from server.services import followups as services
from store import db
from tests.server.caldav_support import add_people, vevent
from tests.server.hostile_support import MAX_BODY, basic, default_headers, load_cases, send, send_case

FOLLOWUPS = Path(sys.executable).with_name("followups")
PEAK_FACTOR = 1.5


def _tree(root: int) -> list[int]:
    """``root`` and its descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def memory_kib(root: int, field: str) -> int:
    """The sum of ``field`` (VmRSS, VmHWM) over the process tree, in KiB."""
    total = 0
    for pid in _tree(root):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith(field + ":"):
                total += int(line.split()[1])
    return total


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], int]]:
    url = f"sqlite:///{tmp_path / 'memory.db'}"
    add_people(services.open_store(url))
    db.dispose_all()
    env = {**os.environ, "FOLLOWUPS_DEFAULT_CONFIG_FILES": "", "FOLLOWUPS_MAX_BODY": str(MAX_BODY),
           "FOLLOWUPS_AUTH_DELAY": "0", "FOLLOWUPS_LOG_LEVEL": "error"}
    process = subprocess.Popen([str(FOLLOWUPS), "serve", "--port", "0", "--database", url], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith("CalDAV URL: "):
                port = int(line.strip().rstrip("/").rsplit(":", 1)[1])
                break
        else:
            raise AssertionError("followups serve printed no CalDAV URL")
        yield process, port
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


def warm_up(port: int) -> None:
    auth = {"Authorization": basic("anna", "secret")}
    for i in range(5):
        body = vevent(f"warm-{i}").encode()
        assert send(port, "PUT", f"/anna/meetings/warm-{i}.ics", body,
                    {**auth, **default_headers("PUT", body)}).status == 201
        query = (b'<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/>'
                 b'</D:prop><C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:time-range '
                 b'start="20260301T000000Z" end="20260401T000000Z"/></C:comp-filter></C:comp-filter></C:filter>'
                 b"</C:calendar-query>")
        headers = {**auth, **default_headers("REPORT", query)}
        assert send(port, "REPORT", "/anna/meetings/", query, headers).status == 207
        assert send(port, "PROPFIND", "/anna/", b"", {**auth, "Depth": "1"}).status == 207
        assert send(port, "GET", f"/anna/meetings/warm-{i}.ics", b"", auth).status == 200


def test_peak_memory_after_the_corpus_is_within_1_5x_of_the_warm_server(
        served: tuple[subprocess.Popen[str], int], capsys: pytest.CaptureFixture[str]) -> None:
    process, port = served
    warm_up(port)
    warm = memory_kib(process.pid, "VmRSS")
    for case in load_cases():
        send_case(port, case)  # the answers are test_hostile_corpus's business; here only the memory
    peak = memory_kib(process.pid, "VmHWM")
    with capsys.disabled():
        print(f"\nmemory: {warm / 1024:.1f} MiB after the warm-up, peak {peak / 1024:.1f} MiB after the corpus "
              f"({peak / warm:.2f}x)")
    assert peak <= PEAK_FACTOR * warm, (warm, peak)


@pytest.mark.parametrize("method", ["PUT", "PROPFIND", "REPORT"])
def test_a_chunked_body_over_max_body_is_413_from_the_production_server(
        served: tuple[subprocess.Popen[str], int], method: str) -> None:
    """gunicorn ends a chunked body (``wsgi.input_terminated``), so the application reads
    at most max_body + 1 bytes of it and answers 413; one under the limit is served."""
    _, port = served
    auth = {"Authorization": basic("anna", "secret")}
    target = "/anna/meetings/chunked.ics" if method == "PUT" else "/anna/meetings/"
    big = vevent("chunked-big", extra=("DESCRIPTION:" + "x" * MAX_BODY,)).encode()
    assert send(port, method, target, big, {**auth, **default_headers(method, big)}, chunked=True).status == 413
    if method == "PUT":
        small = vevent("chunked-small").encode()
        assert send(port, method, target, small, {**auth, **default_headers(method, small)},
                    chunked=True).status == 201
