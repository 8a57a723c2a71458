"""End to end with vdirsyncer (a real two-way sync client, run as a
subprocess): a local folder of .ics files synced with /anna/meetings/ and
/anna/tasks/, with changes and deletions on both sides."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from server.services import followups as services
from tests.server.caldav_support import (
    PASSWORD,
    LiveServer,
    crm_meeting,
    crm_todo,
    followups_by_uid,
    prop_lines,
    retitle,
    vevent,
    vtodo,
)

pytestmark = pytest.mark.slow
VDIRSYNCER = [str(Path(sys.executable).with_name("vdirsyncer"))]
if not Path(VDIRSYNCER[0]).exists():
    VDIRSYNCER = [sys.executable, "-m", "vdirsyncer"]


class Vdir:
    """vdirsyncer with its own config, status and local folder under ``root``."""

    def __init__(self, live: LiveServer, root: Path) -> None:
        self.local = root / "calendars"
        for name in ("meetings", "tasks"):
            (self.local / name).mkdir(parents=True)
        self.config = root / "config"
        self.config.write_text(f"""
[general]
status_path = "{root / 'status'}/"

[pair anna]
a = "anna_local"
b = "anna_remote"
collections = ["meetings", "tasks"]
conflict_resolution = "b wins"

[storage anna_local]
type = "filesystem"
path = "{self.local}/"
fileext = ".ics"

[storage anna_remote]
type = "caldav"
url = "{live.url}anna/"
username = "anna"
password = "{PASSWORD}"
""")

    def run(self, *args: str) -> str:
        env = {**os.environ, "VDIRSYNCER_CONFIG": str(self.config), "PYTHONWARNINGS": "ignore"}
        done = subprocess.run([*VDIRSYNCER, *args], env=env, capture_output=True, text=True, timeout=120,
                              stdin=subprocess.DEVNULL)
        assert done.returncode == 0, f"vdirsyncer {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        return done.stdout + done.stderr

    def sync(self) -> str:
        return self.run("sync")

    def files(self, collection: str) -> dict[str, str]:
        """UID -> text of each local file."""
        found = {}
        for path in sorted((self.local / collection).glob("*.ics")):
            text = path.read_text()
            (uid,) = prop_lines(text, "UID")
            found[uid.split(":", 1)[1]] = text
        return found

    def path_of(self, collection: str, uid: str) -> Path:
        for path in (self.local / collection).glob("*.ics"):
            if prop_lines(path.read_text(), "UID") == [f"UID:{uid}"]:
                return path
        raise AssertionError(f"no local file with UID {uid} in {collection}")


@pytest.fixture
def vdir(live: LiveServer, tmp_path: Path) -> Vdir:
    v = Vdir(live, tmp_path)
    v.run("discover", "--no-list")
    return v


def summary(text: str) -> str:
    (line,) = prop_lines(text, "SUMMARY")
    return line.split(":", 1)[1]


def test_two_way_sync_with_a_local_folder(live: LiveServer, vdir: Vdir) -> None:
    dav = live.dav("anna")
    meeting = crm_meeting(live.engine, title="Kick-off", start=datetime(2026, 3, 9, 9, tzinfo=UTC))
    todo = crm_todo(live.engine, title="Send minutes")
    assert dav.put("anna/meetings/client.ics", vevent("client-ev", "From a phone")).status_code == 201
    vdir.sync()
    assert {uid: summary(t) for uid, t in vdir.files("meetings").items()} == {
        meeting.uid: "Kick-off", "client-ev": "From a phone"}
    assert {uid: summary(t) for uid, t in vdir.files("tasks").items()} == {todo.uid: "Send minutes"}

    # new local files go up
    (vdir.local / "meetings" / "local-ev.ics").write_text(vevent("local-ev", "Written locally"))
    (vdir.local / "tasks" / "local-todo.ics").write_text(vtodo("local-todo", "Local task"))
    vdir.sync()
    (f,) = followups_by_uid(live.engine, "local-ev")
    assert f.title == "Written locally"
    (t,) = followups_by_uid(live.engine, "local-todo")
    assert t.title == "Local task"

    # a local edit goes up
    path = vdir.path_of("meetings", meeting.uid)
    path.write_text(path.read_text().replace("SUMMARY:Kick-off", "SUMMARY:Kick-off (edited locally)"))
    vdir.sync()
    (f,) = followups_by_uid(live.engine, meeting.uid)
    assert f.title == "Kick-off (edited locally)"

    # a CRM edit comes down
    assert todo.id is not None
    services.modify(live.engine, todo.id, retitle("Send minutes today"))
    vdir.sync()
    assert summary(vdir.files("tasks")[todo.uid]) == "Send minutes today"

    # deletions both ways
    vdir.path_of("tasks", "local-todo").unlink()
    assert meeting.id is not None
    services.delete(live.engine, meeting.id)
    assert dav.delete("anna/meetings/client.ics").status_code in (200, 204)
    vdir.sync()
    assert followups_by_uid(live.engine, "local-todo") == []
    assert set(vdir.files("meetings")) == {"local-ev"}
    assert set(vdir.files("tasks")) == {todo.uid}

    # and a quiet sync changes nothing anywhere
    before = {c: vdir.files(c) for c in ("meetings", "tasks")}
    etags = {c: dav.etags(f"anna/{c}/") for c in ("meetings", "tasks")}
    vdir.sync()
    assert {c: vdir.files(c) for c in ("meetings", "tasks")} == before
    assert {c: dav.etags(f"anna/{c}/") for c in ("meetings", "tasks")} == etags
