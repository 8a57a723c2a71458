"""``followups serve --demo`` prints a demo login only when it works.

Regression: on a store that already had users, ``serve --demo`` printed
"Demo login: anna  password: demo" even after anna's password was changed
(or for users the demo never made), so a newcomer was told a password that
the server refused. The demo password is now checked against each demo
user's stored hash; when none opens, the store's users are named, without a
password."""

from __future__ import annotations

import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from server.dav.server import DemoLogins, demo_banner
from tests.cli.clirun import ROOT, ok


def _serve_output(url: str, tmp_path: Path) -> str:
    """What ``serve --demo`` prints up to "Press Ctrl+C to stop." (then it is stopped)."""
    out = tmp_path / "serve.out"
    with open(out, "w") as log:
        proc = subprocess.Popen([sys.executable, "-W", "error", "-m", "server.cli", "--database", url, "serve",
                                 "--demo", "--port", "0", "--host", "127.0.0.1"], cwd=ROOT, stdout=log,
                                stderr=subprocess.STDOUT, text=True)
        try:
            deadline = time.monotonic() + 120
            while "Press Ctrl+C to stop." not in out.read_text():
                assert proc.poll() is None, out.read_text()
                assert time.monotonic() < deadline, out.read_text()
                time.sleep(0.1)
            # Stopped once it serves, as an admin would: a SIGTERM in the instant a worker is
            # forked (before it has its own signal handlers) is lost by gunicorn, whose arbiter
            # then waits the graceful timeout (30 s) before killing the worker.
            url = re.search(r"CalDAV URL: (\S+)", out.read_text())
            assert url, out.read_text()
            while True:
                try:
                    with urllib.request.urlopen(url[1] + ".health", timeout=5) as answer:
                        if answer.status == 200:
                            break
                except OSError:
                    pass
                assert proc.poll() is None and time.monotonic() < deadline, out.read_text()
                time.sleep(0.1)
        finally:
            proc.terminate()
            proc.wait(10)
    return out.read_text()


def test_serve_demo_prints_only_a_demo_login_that_works(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    first = _serve_output(url, tmp_path)
    assert "Demo login: anna  password: demo  (other demo users: bjorn, carla, david, same password)" in first

    ok(url, "user", "passwd", "anna", stdin="not the demo any more\n")
    text = _serve_output(url, tmp_path)
    assert "demo data not loaded" in text
    assert "Demo login: bjorn  password: demo  (other demo users: carla, david, same password)" in text
    assert "anna  password" not in text

    for login in ("bjorn", "carla", "david"):
        ok(url, "user", "passwd", login, stdin="changed too\n")
    text = _serve_output(url, tmp_path)
    assert "password: demo" not in text and "Demo login" not in text
    assert "The store already has users (anna, bjorn, carla, david): log in with their own passwords." in text


def test_serve_demo_on_a_store_of_other_users_names_them(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    ok(url, "init")
    ok(url, "user", "add", "eve", "--name", "Eve", "--email", "eve@example.com")
    ok(url, "user", "passwd", "eve", stdin="demo\n")
    text = _serve_output(url, tmp_path)
    assert "The store already has users (eve): log in with their own passwords." in text
    assert "password: demo" not in text, "eve's password happens to be the demo's, but eve is no demo user"


def test_the_banner() -> None:
    assert demo_banner(DemoLogins([("anna", "demo")])) == ["Demo login: anna  password: demo"]
    assert demo_banner(DemoLogins([], [f"u{i}" for i in range(6)])) == [
        "The store already has users (u0, u1, u2, u3 and 2 more): log in with their own passwords."]
    assert demo_banner(DemoLogins([])) == []
