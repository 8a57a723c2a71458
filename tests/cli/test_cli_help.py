"""``--help`` works for every command and subcommand (the parser tree is walked, so a new
command is covered without editing this test)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.cli.clirun import ROOT, run_python

WALK = """
import argparse, contextlib, io, json, sys
from server.cli.main import build_parser, main

def walk(parser, path):
    yield path
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from walk(sub, path + [name])

results = []
for path in walk(build_parser(), []):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(path + ["--help"])
            code = 0
        except SystemExit as exc:
            code = exc.code
    results.append({"path": path, "code": code, "out": out.getvalue(), "err": err.getvalue()})
print(json.dumps(results))
"""

EXPECTED = {
    "init", "demo", "user add", "user list", "user passwd", "user update", "resource add", "resource list",
    "company add", "company list", "person add", "person list", "sale add", "sale list", "project add",
    "project list", "type add", "type list", "field add", "field list", "add meeting", "add todo", "add call",
    "show", "update", "done", "call-made", "cancel", "delete", "diary", "todo", "activities", "serve",
    "prune-tombstones", "resource update", "conflicts",
    "user remove", "resource remove", "resource unarchive",
    *(f"{noun} {action}" for noun in ("company", "person", "sale", "project", "type", "field")
      for action in ("update", "remove", "unarchive")),
}


def test_help_for_every_command() -> None:
    result = run_python(WALK)
    assert result.code == 0, result.err
    pages = json.loads(result.out)
    leaves = {" ".join(p["path"]) for p in pages}
    assert EXPECTED <= leaves
    for page in pages:
        name = " ".join(["followups", *page["path"]])
        assert page["code"] == 0, name
        assert page["err"] == "", name
        assert page["out"].startswith(f"usage: {name}"), page["out"][:80]
        assert "--help" in page["out"]


def test_help_of_the_console_script() -> None:
    script = Path(sys.executable).with_name("followups")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "server.cli"]
    proc = subprocess.run([*command, "--help"], capture_output=True, text=True, cwd=ROOT, timeout=60,
                          env={**os.environ, "FOLLOWUPS_DATABASE": "sqlite:////nonexistent/never-created.db"})
    assert proc.returncode == 0
    for command_name in ("init", "demo", "diary", "activities", "call-made", "serve"):
        assert command_name in proc.stdout
    assert not Path("/nonexistent").exists()
