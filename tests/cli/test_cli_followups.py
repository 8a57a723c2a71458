"""Follow-ups through the CLI: calls made with the owner's default, every option of
``add`` and ``update``, passwords from stdin, and the store's setup."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.cli.clirun import Result, ok, run_batch, run_cli, run_python


def _made(result: Result) -> tuple[datetime, datetime]:
    data = result.json()
    assert data["kind"] == "call" and data["status"] == "made"
    return datetime.fromisoformat(data["start"]), datetime.fromisoformat(data["end"])


def test_call_made_now_lasts_the_users_call_default(db_url: str) -> None:
    ok(db_url, "init")
    ok(db_url, "user", "add", "anna", "--name", "Anna Berg", "--email", "anna@example.com", "--tz", "Europe/Oslo")
    first = ok(db_url, "add", "call", "--owner", "anna", "--title", "Call Pia", "--deadline", "2030-01-07").out.strip()
    start, end = _made(ok(db_url, "call-made", first, "--json"))
    assert abs(start - datetime.now(UTC)) < timedelta(seconds=15)
    assert end - start == timedelta(minutes=15)
    assert start.utcoffset() in (timedelta(hours=1), timedelta(hours=2)), "in anna's zone"

    assert ok(db_url, "user", "update", "anna", "--call-minutes", "25", "--json").json()["call_minutes"] == 25
    second = ok(db_url, "add", "call", "--owner", "anna", "--title", "Call Ola", "--deadline", "2030-01-08").out.strip()
    start, end = _made(ok(db_url, "call-made", second, "--json"))
    assert abs(start - datetime.now(UTC)) < timedelta(seconds=15)
    assert end - start == timedelta(minutes=25)


def test_call_made_at_a_time_for_a_duration(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'f.db'}"
    ok(url, "init")
    results = run_batch(url, [
        (["user", "add", "anna", "--name", "Anna", "--email", "anna@example.com", "--tz", "Europe/Oslo"], ""),
        (["add", "call", "--owner", "anna", "--title", "Call", "--deadline", "2030-01-07T12:00"], ""),
        (["call-made", "1", "--at", "2030-01-07T09:30", "--duration", "5", "--json"], ""),
        (["todo", "anna", "--json"], ""),
        (["update", "1", "--undone", "--json"], ""),
        (["todo", "anna", "--json"], ""),
    ])
    assert [r.code for r in results] == [0] * len(results), [r.err for r in results]
    start, end = _made(results[2])
    assert start.isoformat() == "2030-01-07T09:30:00+01:00" and end - start == timedelta(minutes=5)
    assert results[3].json() == []
    assert results[4].json()["status"] == "planned"
    assert [i["id"] for i in results[5].json()] == [1]


ADD_EVERYTHING = [
    "add", "meeting", "--owner", "anna", "--title", "Kick-off", "--type", "Meeting (external)",
    "--agenda", "Scope and plan", "--notes", "Bring coffee", "--company", "Acme", "--person", "1", "--sale", "1",
    "--project", "ERP", "--start", "2030-01-07T09:00", "--duration", "90", "--rrule", "FREQ=WEEKLY;COUNT=4",
    "--exdate", "2030-01-14T09:00", "--free", "--alarm", "15", "--participant", "bob",
    "--participant", "person:1", "--participant", "Ext Ernie <ernie@example.net>", "--resource", "room-fjord",
    "--location", "Fjord", "--conference", "https://meet.example.com/1", "--priority", "3", "--private",
    "--field", "Budget=12000.50", "--field", "Signed=ja", "--field", "Decision=2030-02-01",
    "--field", "Channel=video", "--field", "Reference=R-1", "--json",
]


def test_add_with_every_option_then_update_and_clear(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'f.db'}"
    setup = [
        ["init"],
        ["user", "add", "anna", "--name", "Anna", "--email", "anna@example.com", "--tz", "Europe/Oslo"],
        ["user", "add", "bob", "--name", "Bob", "--email", "bob@example.com", "--tz", "America/New_York"],
        ["resource", "add", "room-fjord", "--name", "Fjord", "--email", "room-fjord@example.com"],
        ["company", "add", "Acme"], ["person", "add", "Pia", "--company", "1", "--email", "pia@acme.example"],
        ["sale", "add", "Licences", "--company", "1"], ["project", "add", "ERP"],
        ["field", "add", "Budget", "--type", "number"], ["field", "add", "Signed", "--type", "yesno"],
        ["field", "add", "Decision", "--type", "date"], ["field", "add", "Reference"],
        ["field", "add", "Channel", "--type", "list", "--value", "Phone,Video", "--value", "Visit"],
        ADD_EVERYTHING,
        ["diary", "bob", "--month", "2030-01", "--json"],
        ["update", "1", "--start", "2030-01-08T10:00", "--title", "Kick-off (moved)", "--no-company",
         "--no-project", "--field", "Budget=", "--public", "--busy", "--no-alarm", "--no-priority",
         "--participant", "bob", "--no-resources", "--json"],
        ["update", "1", "--no-recurrence", "--tz", "UTC", "--start", "2030-01-08T08:00", "--end",
         "2030-01-08T08:30", "--json"],
        ["done", "1", "--json"],
        ["add", "todo", "--owner", "anna", "--title", "Offer", "--deadline", "2030-01-10", "--company", "1"],
        ["add", "meeting", "--owner", "anna", "--title", "Fair", "--start", "2030-01-09", "--end", "2030-01-11"],
        ["activities", "--company", "1", "--json"],
        ["cancel", "3"], ["show", "3", "--json"], ["delete", "2"], ["show", "2"],
        ["show", "1"],
    ]
    results = run_batch(url, [(args, "") for args in setup])
    failed = [(args, r.err) for args, r in zip(setup, results, strict=True) if r.code != 0]
    assert failed == [(["show", "2"], "followups: error: no follow-up with id 2\n")]
    added = results[setup.index(ADD_EVERYTHING)].json()
    assert added["start"] == "2030-01-07T09:00:00+01:00" and added["end"] == "2030-01-07T10:30:00+01:00"
    assert added["recurrence"] == {"rule": "FREQ=WEEKLY;COUNT=4", "rdates": [],
                                   "exdates": ["2030-01-14T09:00:00+01:00"]}
    assert (added["company"]["name"], added["person"]["name"], added["sale"]["name"], added["project"]["name"]) \
        == ("Acme", "Pia", "Licences", "ERP")
    assert (added["busy"], added["private"], added["alarm_minutes"], added["priority"]) == (False, True, 15, 3)
    assert [p["user"] or p["person_id"] or p["email"] for p in added["participants"]] == \
        ["bob", 1, "ernie@example.net"]
    assert added["participants"][2]["name"] == "Ext Ernie"
    assert [r["login"] for r in added["resources"]] == ["room-fjord"]
    assert added["fields"] == {"Budget": "12000.50", "Signed": "yes", "Decision": "2030-02-01", "Channel": "Video",
                               "Reference": "R-1"}
    diary = results[14].json()
    assert [e["start"] for e in diary] == ["2030-01-07T03:00:00-05:00", "2030-01-21T03:00:00-05:00",
                                           "2030-01-28T03:00:00-05:00"], "bob sees the series in his zone"

    moved = results[15].json()
    assert moved["start"] == "2030-01-08T10:00:00+01:00" and moved["duration_minutes"] == 90
    assert moved["recurrence"]["exdates"] == ["2030-01-15T10:00:00+01:00"], "exdates move with the series"
    assert (moved["company"], moved["project"], moved["busy"], moved["private"]) == (None, None, True, False)
    assert (moved["alarm_minutes"], moved["priority"], moved["resources"]) == (None, None, [])
    assert [p["user"] for p in moved["participants"]] == ["bob"]
    assert "Budget" not in moved["fields"] and moved["fields"]["Channel"] == "Video"
    assert moved["sequence"] == 1, "moving an invitation asks participants again"

    single = results[16].json()
    assert single["recurrence"] is None
    assert (single["start"], single["end"]) == ("2030-01-08T08:00:00+00:00", "2030-01-08T08:30:00+00:00")
    assert results[17].json()["status"] == "done"
    activities = results[20].json()
    assert [(a["id"], a["kind"]) for a in activities] == [(2, "todo")], "the meeting left the company"
    fair = results[22].json()
    assert (fair["status"], fair["all_day"], fair["start"], fair["end"]) == \
        ("cancelled", True, "2030-01-09", "2030-01-11")
    shown = results[-1].out
    assert "title:" in shown and "Kick-off (moved)" in shown and "participant:" in shown


def test_passwd_reads_stdin(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'f.db'}"
    results = run_batch(url, [
        (["init"], ""),
        (["user", "add", "anna", "--name", "Anna", "--email", "anna@example.com"], ""),
        (["user", "passwd", "anna"], "s3cret pass\n"),
    ])
    assert [r.code for r in results] == [0, 0, 0], [r.err for r in results]
    check = run_python(
        "import sys\nfrom server.services import auth, followups as services\nfrom store.uow import UnitOfWork\n"
        "engine = services.open_store(sys.argv[1])\n"
        "with UnitOfWork(engine, write=False) as uow:\n"
        "    stored = uow.users.by_login('anna').password_hash\n"
        "print(auth.check_password(stored, 's3cret pass'), auth.check_password(stored, 's3cret'))\n",
        url)
    assert check.out.split() == ["True", "False"], check.err


def test_init_creates_and_is_idempotent(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'sub' / 'f.db'}"
    ok(url, "init")
    again = run_batch(url, [(["init"], ""), (["type", "list", "--json"], ""), (["user", "list"], "")])
    assert [r.code for r in again] == [0, 0, 0]
    assert {t["kind"] for t in again[1].json()} == {"meeting", "todo", "call"}
    assert again[2].out == "(none)\n"


def test_progress_bar_only_on_a_terminal() -> None:
    result = run_python(
        "import io\nfrom server.cli.common import Progress\n"
        "class Tty(io.StringIO):\n    def isatty(self): return True\n"
        "tty, pipe = Tty(), io.StringIO()\n"
        "for stream in (tty, pipe):\n"
        "    bar = Progress('loading', stream, width=10)\n"
        "    bar(5, 10); bar(10, 10); bar.finish()\n"
        "print(repr(tty.getvalue())); print(repr(pipe.getvalue()))\n")
    tty, pipe = result.out.splitlines()
    assert tty == repr("\rloading [#####.....] 5/10\rloading [##########] 10/10\n")
    assert pipe == "''"


def test_json_is_accepted_before_the_command(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'f.db'}"
    ok(url, "init")
    result = run_cli(url, "--json", "type", "list")
    assert result.code == 0 and result.json()[0]["kind"] == "meeting"


def test_history_lists_every_change_with_who_and_from_where(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path}/h.db"
    results = run_batch(url, [
        (["init"], ""),
        (["user", "add", "anna", "--name", "Anna", "--email", "anna@example.com"], ""),
        (["add", "todo", "--owner", "anna", "--title", "Send offer", "--deadline", "2030-01-07"], ""),
        (["update", "1", "--title", "Send the offer"], ""),
        (["done", "1"], ""),
        (["history", "1", "--json"], ""),
        (["history", "1"], ""),
        (["delete", "1"], ""),
        (["history", "1", "--json"], ""),
        (["history", "99"], ""),
    ])
    assert [r.code for r in results[:9]] == [0] * 9, [r.err for r in results]
    live = results[5].json()
    assert (live["title"], live["deleted"]) == ("Send the offer", False)
    assert [(c["action"], c["actor"], c["source"]) for c in live["changes"]] == [
        ("create", "system", "crm"), ("update", "system", "crm"), ("update", "system", "crm")]
    assert all(datetime.fromisoformat(c["at"]).tzinfo is not None for c in live["changes"])
    text = results[6].out.splitlines()
    assert text[0] == "follow-up 1 'Send the offer'"
    assert text[1].split() == ["WHEN", "(UTC)", "ACTION", "BY", "FROM"]
    assert [line.split()[2:] for line in text[3:]] == [["create", "system", "crm"], ["update", "system", "crm"]] + [
        ["update", "system", "crm"]]
    gone = results[8].json()
    assert gone["deleted"] is True and gone["title"] is None
    assert [c["action"] for c in gone["changes"]] == ["create", "update", "update", "delete"]
    assert results[9].code == 2
    assert results[9].error_line() == "followups: error: no follow-up with id 99, and none was ever recorded"
