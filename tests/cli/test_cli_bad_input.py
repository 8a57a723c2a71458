"""Every bad input prints one clear line, exits non-zero and changes nothing.

All cases run against one seeded store, in one interpreter (see
``clirun.run_batch``; the first few also as processes of their own), with a
dump of every table taken before and after.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.cli.clirun import Result, run_batch, run_cli, run_python
from tests.cli.dbdump import dump_tables

MEETING = ["add", "meeting", "--owner", "anna", "--title", "Review", "--start", "2030-01-07T10:00"]
TODO = ["add", "todo", "--owner", "anna", "--title", "Send offer", "--deadline", "2030-01-07"]


@dataclass(frozen=True)
class Case:
    name: str
    args: tuple[str, ...]
    expect: str
    code: int = 2
    stdin: str = ""


def case(name: str, args: list[str], expect: str, code: int = 2, stdin: str = "") -> Case:
    return Case(name, tuple(args), expect, code, stdin)


CASES = [
    case("unknown owner", ["add", "meeting", "--owner", "nobody", "--title", "x", "--start", "2030-01-07"],
         "no user 'nobody' (see `followups user list`)"),
    case("unknown type", [*MEETING, "--type", "Board game"], "no follow-up type called 'Board game'"),
    case("type of another kind", ["add", "call", "--owner", "anna", "--title", "x", "--deadline", "2030-01-07",
                                  "--type", "Meeting (external)"], "is for meetings, not calls"),
    case("end before start", [*MEETING, "--end", "2030-01-07T09:00"], "is before the start"),
    case("all-day end not after start", ["add", "meeting", "--owner", "anna", "--title", "x", "--start",
                                         "2030-01-07", "--end", "2030-01-07"], "ends after it starts"),
    case("end and duration", [*MEETING, "--end", "2030-01-07T11:00", "--duration", "30"], "not both"),
    case("number field", [*TODO, "--field", "Budget=lots"], "field 'Budget' takes a number, not 'lots'"),
    case("list field", [*TODO, "--field", "Channel=Fax"], "field 'Channel' takes one of Phone, E-mail"),
    case("date field", [*TODO, "--field", "Decision=tomorrow"], "takes a date (YYYY-MM-DD)"),
    case("yes/no field", [*TODO, "--field", "Signed=maybe"], "takes yes or no"),
    case("unknown field", [*TODO, "--field", "Colour=red"], "no custom field called 'Colour'"),
    case("field without value", [*TODO, "--field", "Budget"], "use NAME=VALUE"),
    case("unknown company id", [*TODO, "--company", "999"], "no company with id 999 (see `followups company list`)"),
    case("unknown person", [*TODO, "--person", "999"], "no person with id 999"),
    case("unknown sale", [*TODO, "--sale", "Big deal"], "no sale called 'Big deal'"),
    case("to-do without deadline", ["add", "todo", "--owner", "anna", "--title", "x"], "a to-do needs a deadline"),
    case("call without deadline", ["add", "call", "--owner", "anna", "--title", "x"],
         "a planned call needs a deadline"),
    case("meeting without start", ["add", "meeting", "--owner", "anna", "--title", "x"], "a meeting needs --start"),
    case("meeting with deadline", [*MEETING, "--deadline", "2030-01-08"], "a meeting has no deadline"),
    case("empty title", ["add", "todo", "--owner", "anna", "--title", " ", "--deadline", "2030-01-07"],
         "the title is empty"),
    case("unknown participant", [*MEETING, "--participant", "nobody"], "no user 'nobody'"),
    case("unknown person participant", [*MEETING, "--participant", "person:999"], "no person with id 999"),
    case("bad participant address", [*MEETING, "--participant", "Someone <nowhere>"], "is not an e-mail address"),
    case("participant twice", [*MEETING, "--participant", "bob", "--participant", "bob@example.com"],
         "listed twice"),
    case("unknown resource", [*MEETING, "--resource", "room-nope"], "no resource 'room-nope'"),
    case("resource twice", [*MEETING, "--resource", "room-fjord", "--resource", "room-fjord"], "booked twice"),
    case("impossible date", ["add", "meeting", "--owner", "anna", "--title", "x", "--start", "2030-02-30T10:00"],
         "is not an ISO date"),
    case("bad rrule", [*MEETING, "--rrule", "FREQ=FORTNIGHTLY"], "is not a valid RRULE"),
    case("exdate without rule", [*MEETING, "--exdate", "2030-01-14T10:00"], "needs a recurring follow-up"),
    case("priority out of range", [*TODO, "--priority", "10"], "priority is 1 (high) to 9 (low)"),
    case("negative alarm", [*TODO, "--alarm", "-5"], "is negative"),
    case("unknown time zone", [*MEETING, "--tz", "Mars/Olympus"], "unknown time zone 'Mars/Olympus'"),
    case("duration of an all-day meeting", ["add", "meeting", "--owner", "anna", "--title", "x", "--start",
                                            "2030-01-07", "--duration", "30"], "--duration is for timed"),
    case("made call on a date", ["add", "call", "--owner", "anna", "--title", "x", "--start", "2030-01-07"],
         "a made call starts at a date and time"),
    case("duplicate login", ["user", "add", "anna", "--name", "Anna", "--email", "a@example.org"], "exists already"),
    case("bad e-mail", ["user", "add", "carl", "--name", "Carl", "--email", "carl"], "invalid e-mail address"),
    case("bad login", ["user", "add", "a/b", "--name", "AB", "--email", "ab@example.com"], "invalid login"),
    case("update unknown user", ["user", "update", "nobody", "--call-minutes", "20"], "no user 'nobody'"),
    case("zero call minutes", ["user", "update", "anna", "--call-minutes", "0"], "is not a positive number"),
    case("update with nothing", ["user", "update", "anna"], "nothing to change"),
    case("passwd without stdin", ["user", "passwd", "anna"], "no password on stdin"),
    case("passwd of unknown user", ["user", "passwd", "nobody"], "no user 'nobody'", stdin="secret\n"),
    case("duplicate resource", ["resource", "add", "room-fjord"], "exists already"),
    case("resource with a user's login", ["resource", "add", "anna"], "is a user's login"),
    case("person of unknown company", ["person", "add", "Pia", "--company", "999"], "no company with id 999"),
    case("sale of unknown company", ["sale", "add", "Deal", "--company", "999"], "no company with id 999"),
    case("list field without values", ["field", "add", "Size", "--type", "list"], "needs at least one value"),
    case("values on a text field", ["field", "add", "Size", "--value", "S"], "only for list fields"),
    case("duplicate field", ["field", "add", "budget", "--type", "number"], "exists already"),
    case("type of unknown kind", ["type", "add", "Lunch", "--kind", "party"], "invalid choice"),
    case("update unknown follow-up", ["update", "9999", "--title", "x"], "no follow-up with id 9999"),
    case("update end before start", ["update", "{meeting}", "--end", "2030-01-07T08:00"], "is before the start"),
    case("update type of another kind", ["update", "{todo}", "--type", "Own time"], "is for meetings"),
    case("update clears a to-do's deadline", ["update", "{todo}", "--no-deadline"], "a to-do needs a deadline"),
    case("update bad field", ["update", "{todo}", "--field", "Budget=x"], "takes a number"),
    case("update unknown owner", ["update", "{todo}", "--owner", "nobody"], "no user 'nobody'"),
    case("not an id", ["show", "abc"], "is not an id"),
    case("done on a planned call", ["done", "{call}"], "record a call as made (call-made)"),
    case("call-made on a meeting", ["call-made", "{meeting}"], "is a meeting, not a call"),
    case("call-made at a date", ["call-made", "{call}", "--at", "2030-01-07"], "needs a time of day"),
    case("call-made of zero minutes", ["call-made", "{call}", "--duration", "0"], "is not a positive number"),
    case("cancel a to-do", ["cancel", "{todo}"], "only meetings are cancelled"),
    case("delete unknown", ["delete", "9999"], "no follow-up with id 9999"),
    case("diary of unknown user", ["diary", "nobody", "--week", "2030-W02"], "no user 'nobody'"),
    case("diary bad week", ["diary", "anna", "--week", "2030-W60"], "is not an ISO week"),
    case("diary bad month", ["diary", "anna", "--month", "2030-13"], "is not a month"),
    case("diary two views", ["diary", "anna", "--day", "2030-01-07", "--month", "2030-01"], "not allowed with"),
    case("todo of unknown user", ["todo", "nobody"], "no user 'nobody'"),
    case("activities of unknown company", ["activities", "--company", "999"], "no company with id 999"),
    case("activities of nothing", ["activities"], "one of the arguments"),
    case("unknown command", ["frobnicate"], "invalid choice"),
]


SEED = """
import json, sys
from datetime import datetime
from zoneinfo import ZoneInfo
from server.services import followups as services
from store.domain import (Company, FieldDef, FieldType, Kind, Person, Resource, ResourceKind, User, new_call,
                          new_meeting, new_todo)
from store.uow import UnitOfWork

engine = services.open_store(sys.argv[1])
anna = services.add_user(engine, User("anna", "Anna Berg", "anna@example.com", tz="Europe/Oslo"))
services.add_user(engine, User("bob", "Bob Stone", "bob@example.com", tz="America/New_York"))
services.add_resource(engine, Resource("room-fjord", "Fjord", ResourceKind.ROOM, "room-fjord@example.com"))
with UnitOfWork(engine) as uow:
    company = uow.companies.add(Company("Acme"))
    uow.persons.add(Person("Pia Hansen", company.id, "pia@acme.example"))
    for name, ftype, choices in (("Budget", FieldType.NUMBER, []), ("Decision", FieldType.DATE, []),
                                 ("Signed", FieldType.YESNO, []), ("Reference", FieldType.TEXT, []),
                                 ("Channel", FieldType.LIST, ["Phone", "E-mail"])):
        uow.fields.add(FieldDef(name, ftype, choices))
    types = {k: uow.types.default(k).id for k in Kind}
    uow.commit()
start = datetime(2030, 1, 7, 10, tzinfo=ZoneInfo("Europe/Oslo"))
meeting = services.create(engine, new_meeting(anna, "Review", types[Kind.MEETING], start))
todo = services.create(engine, new_todo(anna, "Offer", types[Kind.TODO], start.date()))
call = services.create(engine, new_call(anna, "Call back", types[Kind.CALL], start))
print(json.dumps({"meeting": meeting.id, "todo": todo.id, "call": call.id}))
"""
"""anna (Europe/Oslo) and bob, a room, a company with a person, one custom field of each type, and one
meeting, to-do and planned call of anna's. Run in a subprocess: see clirun.run_python."""


def seed(url: str) -> dict[str, int]:
    result = run_python(SEED, url)
    assert result.code == 0, result.err
    return dict(result.json())


@dataclass
class Run:
    before: dict[str, Any]
    after: dict[str, Any]
    results: dict[str, Result]


ALONE = 4
"""The first cases also run as separate ``followups`` processes, through the real entry point."""


@pytest.fixture(scope="module")
def run(module_url: str) -> Iterator[Run]:
    ids = seed(module_url)
    before = dump_tables(module_url)
    commands = [([a.format(**ids) for a in c.args], c.stdin) for c in CASES]
    results = dict(zip((c.name for c in CASES), run_batch(module_url, commands), strict=True))
    for c, (args, stdin) in zip(CASES[:ALONE], commands, strict=False):
        alone = run_cli(module_url, *args, stdin=stdin)
        assert (alone.code, alone.out, alone.err) == (results[c.name].code, results[c.name].out,
                                                      results[c.name].err)
    yield Run(before, dump_tables(module_url), results)


@pytest.mark.parametrize("c", CASES, ids=[c.name for c in CASES])
def test_bad_input_is_one_clear_line(run: Run, c: Case) -> None:
    result = run.results[c.name]
    assert result.code == c.code, result.err
    assert c.expect in result.error_line()
    assert result.out == ""


def test_bad_input_changes_nothing(run: Run) -> None:
    assert run.after == run.before
    assert run.before["followups"], "the seeded store holds follow-ups"


def test_uninitialised_store_is_refused(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    result = run_cli(url, "user", "list")
    assert result.code == 1
    assert "not initialised: run `followups --database" in result.error_line()
    assert "init` first" in result.error_line()
