"""One ``followups.requests`` line per request (server.dav.requestlog), over a real server:
our own PUT path (which Radicale never sees) included, with the Basic login name and
never a password, a request body or calendar data."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from server.dav import requestlog
from tests.cli.clirun import ROOT
from tests.cli.test_config import clean_env
from tests.server.caldav_support import LiveServer, add_people, start_server, stop_server, vevent

SUMMARY = "Quarterly review with Nordlys"
WRONG = "not-the-pw-7431"


@pytest.fixture
def log(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> pytest.LogCaptureFixture:
    """caplog, seeing the request log: the server makes it its own channel (its own stderr
    handler, no propagation); here its lines also go up to caplog's handler on the root."""
    requestlog.configure()
    monkeypatch.setattr(logging.getLogger(requestlog.LOGGER_NAME), "propagate", True)
    return caplog


@pytest.fixture
def live_json(db_url: str) -> Iterator[LiveServer]:
    server, thread, httpd = start_server(db_url, log_format="json")
    add_people(server.engine)
    try:
        yield server
    finally:
        stop_server(server, thread, httpd)


def lines(caplog: pytest.LogCaptureFixture, count: int) -> list[logging.LogRecord]:
    """The request log's records once there are ``count`` (a line is written after the
    response is sent, so it can come just after the client has its answer). A record is
    counted once: pytest 9 also hangs caplog's handler on loggers that do not propagate."""
    deadline = time.monotonic() + 10
    while True:
        found = list({id(r): r for r in caplog.records if r.name == requestlog.LOGGER_NAME}.values())
        if len(found) >= count or time.monotonic() > deadline:
            time.sleep(0.05)  # a second line for the same request would show up now
            found = list({id(r): r for r in caplog.records if r.name == requestlog.LOGGER_NAME}.values())
            assert len(found) == count, [r.getMessage() for r in found]
            return found
        time.sleep(0.01)


def by_method(records: list[logging.LogRecord]) -> dict[str, logging.LogRecord]:
    """The records by their request's method: two requests' lines come in the order
    their responses were finished, which need not be the order they were sent (a
    line is written after its response, on the server's thread)."""
    found = {r.request["method"]: r for r in records}  # type: ignore[attr-defined]
    assert len(found) == len(records), [r.getMessage() for r in records]
    return found


def sent(r: requests.Response) -> int:
    """The body bytes on the wire (gzip included: ``requests`` decompresses ``content``)."""
    return int(r.headers.get("Content-Length", len(r.content)))


def test_put_propfind_and_get_give_one_line_each(live: LiveServer, log: pytest.LogCaptureFixture) -> None:
    dav = live.dav("anna")
    put = dav.put("anna/meetings/uid-1.ics", vevent("uid-1", summary=SUMMARY))
    assert put.status_code == 201, put.text
    (line,) = lines(log, 1)
    assert line.levelno == logging.INFO
    assert line.getMessage().startswith('127.0.0.1 anna "PUT /anna/meetings/uid-1.ics" 201 0 B ')
    assert line.getMessage().endswith(" ms")

    found = dav.propfind("anna/meetings/", "<D:getetag/>", depth="1")
    assert found.status_code == 207
    got = dav.get("anna/meetings/uid-1.ics?export=1")
    assert got.status_code == 200 and SUMMARY in got.text
    logged = by_method(lines(log, 3))
    propfind, get = logged["PROPFIND"], logged["GET"]
    assert propfind.getMessage().startswith(f'127.0.0.1 anna "PROPFIND /anna/meetings/" 207 {sent(found)} B ')
    assert get.getMessage().startswith(f'127.0.0.1 anna "GET /anna/meetings/uid-1.ics" 200 {sent(got)} B ')
    assert sent(got) > 0
    fields = [r.request for r in (line, propfind, get)]  # type: ignore[attr-defined]
    assert [(f["method"], f["path"], f["user"], f["status"]) for f in fields] == [
        ("PUT", "/anna/meetings/uid-1.ics", "anna", 201),
        ("PROPFIND", "/anna/meetings/", "anna", 207),
        ("GET", "/anna/meetings/uid-1.ics", "anna", 200),
    ]
    assert SUMMARY not in log.text and "VEVENT" not in log.text and "export" not in log.text


def test_a_wrong_password_is_logged_with_the_login_only(live: LiveServer, log: pytest.LogCaptureFixture) -> None:
    r = requests.request("PROPFIND", live.url + "anna/meetings/", auth=("anna", WRONG), headers={"Depth": "0"},
                         timeout=30)
    assert r.status_code == 401
    r = requests.put(live.url + "anna/meetings/uid-2.ics", data=vevent("uid-2", summary=SUMMARY).encode(),
                     auth=("anna", WRONG), headers={"Content-Type": "text/calendar"}, timeout=30)
    assert r.status_code == 401
    anonymous = requests.get(live.url + "anna/", timeout=30)
    assert anonymous.status_code == 401
    logged = by_method(lines(log, 3))
    propfind, put, get = logged["PROPFIND"], logged["PUT"], logged["GET"]
    assert propfind.request["user"] == "anna" and propfind.request["status"] == 401  # type: ignore[attr-defined]
    assert put.request["user"] == "anna" and put.request["status"] == 401  # type: ignore[attr-defined]
    assert put.getMessage().startswith('127.0.0.1 anna "PUT /anna/meetings/uid-2.ics" 401 ')
    assert get.getMessage().startswith('127.0.0.1 - "GET /anna/" 401 ')
    everything = log.text + "".join(repr(vars(r)) for r in (propfind, put, get))
    assert WRONG not in everything and SUMMARY not in everything
    assert "Basic" not in everything


def test_json_lines(live_json: LiveServer, log: pytest.LogCaptureFixture) -> None:
    dav = live_json.dav("anna")
    assert dav.put("anna/meetings/uid-3.ics", vevent("uid-3", summary=SUMMARY)).status_code == 201
    got = dav.get("anna/meetings/uid-3.ics")
    assert got.status_code == 200
    logged = {method: json.loads(r.getMessage()) for method, r in by_method(lines(log, 2)).items()}
    put, get = logged["PUT"], logged["GET"]
    assert set(put) == set(get) == {"method", "path", "user", "status", "bytes", "ms", "remote"}
    assert put | {"ms": 0} == {"method": "PUT", "path": "/anna/meetings/uid-3.ics", "user": "anna", "status": 201,
                               "bytes": 0, "ms": 0, "remote": "127.0.0.1"}
    assert (get["method"], get["status"], get["bytes"]) == ("GET", 200, sent(got))
    assert isinstance(get["ms"], float) and get["ms"] >= 0
    assert SUMMARY not in log.text


@pytest.mark.parametrize("args, pattern", [
    ([], r'127\.0\.0\.1 nobody "PROPFIND /nobody/" 401 \d+ B [\d.]+ ms'),
    (["--log-format", "json"], r'\{"method": "PROPFIND", "path": "/nobody/", "user": "nobody", "status": 401, .*\}'),
])
def test_serve_prints_request_lines_on_stderr_at_the_default_log_level(args: list[str], pattern: str,
                                                                         tmp_path: Path) -> None:
    err = tmp_path / "serve.err"
    env = clean_env(FOLLOWUPS_AUTH_DELAY="0")
    with (tmp_path / "serve.out").open("w") as stdout, err.open("w") as stderr:
        proc = subprocess.Popen([sys.executable, "-m", "server.cli", "--database", f"sqlite:///{tmp_path / 'x.db'}",
                                 "serve", "--port", "0", *args], cwd=ROOT, stdout=stdout, stderr=stderr,
                                text=True, env=env)
    try:
        deadline = time.monotonic() + 60
        while not (url := re.search(r"CalDAV URL: (\S+)", (tmp_path / "serve.out").read_text())):
            assert proc.poll() is None and time.monotonic() < deadline, err.read_text()
            time.sleep(0.1)
        answer = requests.request("PROPFIND", url.group(1) + "nobody/", auth=("nobody", WRONG),
                                  headers={"Depth": "0"}, timeout=30)
        assert answer.status_code == 401
        while not (line := re.search(pattern, err.read_text())):
            assert time.monotonic() < deadline, err.read_text()
            time.sleep(0.1)
        if args:
            assert json.loads(line.group(0))["remote"] == "127.0.0.1"
        assert WRONG not in err.read_text()
    finally:
        proc.terminate()
        proc.wait(10)
