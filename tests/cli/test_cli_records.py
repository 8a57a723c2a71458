"""Directory records from the command line: ``update``, ``remove`` (refused naming what
still refers to the record), ``remove --archive`` / ``unarchive``, ``list --all``, and
``user remove``. What clients see of these changes is in tests/server/test_directory_cli.py."""

from __future__ import annotations

from typing import Any

from tests.cli.clirun import Result, ok, run_batch

SETUP: list[list[str]] = [
    ["init"],
    ["user", "add", "anna", "--name", "Anna Berg", "--email", "anna@example.com", "--tz", "Europe/Oslo"],
    ["user", "add", "bjorn", "--name", "Bjørn Dahl", "--email", "bjorn@example.com"],
    ["resource", "add", "room-fjord", "--name", "Fjord room", "--email", "fjord@example.com"],
    ["company", "add", "Nordlys AS"],                                   # 1
    ["company", "add", "Fjellheim Hotels"],                             # 2
    ["person", "add", "Kari Nordmann", "--company", "1", "--email", "kari@nordlys.example"],  # 1
    ["person", "add", "Ola Nordmann", "--company", "1"],                # 2
    ["sale", "add", "Fjord deal", "--company", "1"],                    # 1
    ["project", "add", "ERP rollout"],                                  # 1
    ["field", "add", "Budget", "--type", "text"],                       # 1
    ["field", "add", "Tier", "--type", "list", "--value", "Gold,Silver"],  # 2
]


def _batch(url: str, commands: list[list[str]]) -> list[Result]:
    return run_batch(url, [(c, "") for c in commands])


def _all_ok(results: list[Result]) -> None:
    assert [r.code for r in results] == [0] * len(results), [r.err for r in results if r.code]


def _store(url: str, *more: list[str]) -> None:
    _all_ok(_batch(url, [*SETUP, *more]))


def test_every_record_kind_can_be_changed(db_url: str) -> None:
    _store(db_url)
    results = _batch(db_url, [
        ["company", "update", "Nordlys AS", "--name", "Nordlys Energi AS", "--json"],
        ["person", "update", "1", "--name", "Kari Nordmann-Berg", "--company", "2", "--phone", "+47 555 00 000",
         "--json"],
        ["person", "update", "Kari Nordmann-Berg", "--no-company", "--email", "", "--json"],
        ["sale", "update", "1", "--name", "Fjord deal, phase 2", "--company", "2", "--json"],
        ["sale", "update", "1", "--no-company", "--json"],
        ["project", "update", "erp rollout", "--name", "ERP rollout 2027", "--json"],
        ["type", "update", "Own time", "--name", "Focus time", "--free", "--json"],
        ["type", "update", "Focus time", "--busy", "--json"],
        ["field", "update", "Budget", "--name", "Cost centre", "--json"],
        ["field", "update", "Tier", "--value", "Gold", "--value", "Silver,Bronze", "--json"],
        ["field", "update", "Cost centre", "--type", "number", "--json"],
        ["company", "update", "2", "--name", "Fjellheim"],
    ])
    _all_ok(results)
    data = [r.json() for r in results[:-1]]
    assert data[0] == {"id": 1, "name": "Nordlys Energi AS", "archived": False}
    assert data[1] == {"id": 1, "name": "Kari Nordmann-Berg", "company_id": 2, "email": "kari@nordlys.example",
                       "phone": "+47 555 00 000", "archived": False}
    assert (data[2]["company_id"], data[2]["email"], data[2]["phone"]) == (None, None, "+47 555 00 000")
    assert data[3] == {"id": 1, "name": "Fjord deal, phase 2", "company_id": 2, "archived": False}
    assert data[4]["company_id"] is None
    assert data[5]["name"] == "ERP rollout 2027"
    assert (data[6]["name"], data[6]["busy"], data[7]["busy"]) == ("Focus time", False, True)
    assert data[8]["name"] == "Cost centre"
    assert data[9]["choices"] == ["Gold", "Silver", "Bronze"]
    assert (data[10]["type"], data[10]["choices"]) == ("number", [])
    assert results[-1].out == 'updated company 2 "Fjellheim"\n'


def test_bad_updates_are_one_line(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'f.db'}"
    _store(url)
    results = _batch(url, [
        ["company", "update", "1"],
        ["company", "update", "99", "--name", "X"],
        ["company", "update", "Nobody AS", "--name", "X"],
        ["project", "update", "1", "--name", "  "],
        ["type", "update", "Own time", "--name", "meeting (external)"],
        ["field", "update", "Budget", "--name", "tier"],
        ["field", "update", "Budget", "--value", "a"],
        ["person", "update", "1", "--company", "99"],
        ["person", "update", "1", "--company", "2", "--no-company"],
        ["type", "update", "Own time", "--busy", "--free"],
    ])
    assert [r.code for r in results] == [2] * len(results)
    lines = [r.error_line() for r in results]
    assert lines[0] == "followups: error: nothing to change: give --name"
    assert lines[1] == "followups: error: no company with id 99"
    assert lines[2] == "followups: error: no company called 'Nobody AS'"
    assert lines[3] == "followups: error: the name is empty"
    assert lines[4] == 'followups: error: follow-up type 1 "Meeting (external)" has that name already'
    assert lines[5] == 'followups: error: custom field 2 "Tier" has that name already'
    assert lines[6] == "followups: error: --value is only for list fields; field 'Budget' is a text field"
    assert lines[7] == "followups: error: no company with id 99"
    assert "not allowed with argument" in lines[8] and "not allowed with argument" in lines[9]


def test_a_removal_that_would_break_something_is_refused_naming_it(db_url: str) -> None:
    meeting = ["add", "meeting", "--owner", "anna", "--title", "Kickoff", "--start", "2030-01-07T09:00"]
    _store(db_url,
           [*meeting, "--company", "1", "--person", "1", "--sale", "1", "--project", "1", "--resource",
            "room-fjord", "--participant", "person:2", "--participant", "bjorn", "--field", "Budget=12"],
           ["add", "todo", "--owner", "anna", "--title", "Offer", "--deadline", "2030-01-08", "--company", "1"],
           ["add", "todo", "--owner", "anna", "--title", "Follow up", "--deadline", "2030-01-09", "--company", "1"],
           ["add", "todo", "--owner", "bjorn", "--title", "Own", "--deadline", "2030-01-09"])
    results = _batch(db_url, [
        ["company", "remove", "1"],
        ["person", "remove", "1"],
        ["person", "remove", "2"],
        ["sale", "remove", "1"],
        ["project", "remove", "ERP rollout"],
        ["type", "remove", "Meeting (external)"],
        ["field", "remove", "Budget"],
        ["resource", "remove", "room-fjord"],
        ["user", "remove", "anna"],
        ["user", "remove", "bjorn"],
    ])
    assert [r.code for r in results] == [2] * len(results), [r.err for r in results]
    suffix = "; update or remove them first, or use --archive"
    assert [r.error_line().removeprefix("followups: error: ") for r in results] == [
        'company 1 "Nordlys AS" is still used by 3 follow-ups (e.g. #1, #2), 2 persons and 1 sale' + suffix,
        'person 1 "Kari Nordmann" is still used by 1 follow-up (#1)' + suffix,
        'person 2 "Ola Nordmann" is still used by 1 invitation (#1)' + suffix,
        'sale 1 "Fjord deal" is still used by 1 follow-up (#1)' + suffix,
        'project 1 "ERP rollout" is still used by 1 follow-up (#1)' + suffix,
        'follow-up type 1 "Meeting (external)" is still used by 1 follow-up (#1)' + suffix,
        'custom field 1 "Budget" is still used by 1 follow-up (#1)' + suffix,
        'resource room-fjord ("Fjord room") is still used by 1 booking (#1)' + suffix,
        'user anna ("Anna Berg") still owns 3 follow-ups (e.g. #1, #2); give their follow-ups to another user '
        "(`followups update ID --owner LOGIN`), or delete those follow-ups first (users cannot be archived)",
        'user bjorn ("Bjørn Dahl") still owns 1 follow-up (#4) and is still invited to 1 follow-up (#1); '
        "give their follow-ups to another user (`followups update ID --owner LOGIN`) and take them off the "
        "invitations (`followups update ID --participant ...`), or delete those follow-ups first "
        "(users cannot be archived)",
    ]
    # nothing was removed
    listed = _batch(db_url, [["company", "list", "--json"], ["person", "list", "--json"], ["user", "list", "--json"]])
    assert [len(r.json()) for r in listed] == [2, 2, 2]


def test_a_record_nothing_refers_to_is_removed(db_url: str) -> None:
    _store(db_url, ["grant", "anna", "--reads", "bjorn"], ["type", "add", "Workshop", "--kind", "meeting"])
    results = _batch(db_url, [
        ["person", "remove", "1"],
        ["person", "remove", "Ola Nordmann", "--json"],
        ["sale", "remove", "Fjord deal"],
        ["company", "remove", "Nordlys AS"],
        ["project", "remove", "1", "--json"],
        ["type", "remove", "Workshop"],
        ["field", "remove", "Tier"],
        ["resource", "remove", "room-fjord", "--json"],
        ["user", "remove", "bjorn"],
        ["user", "remove", "anna", "--json"],
        ["company", "list", "--all", "--json"],
        ["person", "list", "--all", "--json"],
        ["resource", "list", "--all", "--json"],
        ["user", "list", "--json"],
        ["grant", "--list", "--json"],
    ])
    _all_ok(results)
    assert results[0].out == 'removed person 1 "Kari Nordmann"\n'
    assert results[1].json() == {"action": "removed", "record": "person", "id": 2, "name": "Ola Nordmann",
                                 "company_id": 1, "email": None, "phone": None, "archived": False}
    assert results[3].out == 'removed company 1 "Nordlys AS"\n'
    assert results[4].json()["action"] == "removed"
    assert results[7].json()["login"] == "room-fjord"
    assert results[8].out == 'removed user bjorn ("Bjørn Dahl") and 1 grant\n'
    assert results[9].json() == {"action": "removed", "record": "user", "id": 1, "login": "anna", "grants_removed": 0}
    assert [c["name"] for c in results[10].json()] == ["Fjellheim Hotels"]
    assert results[11].json() == results[12].json() == results[13].json() == []
    assert results[14].json() == []


def test_an_archived_record_stays_on_its_follow_ups_and_is_refused_for_new_ones(db_url: str) -> None:
    _store(db_url, ["add", "meeting", "--owner", "anna", "--title", "Kickoff", "--start", "2030-01-07T09:00",
                    "--type", "Own time", "--company", "1", "--resource", "room-fjord", "--field", "Tier=Gold"])
    new_meeting = ["add", "meeting", "--owner", "anna", "--title", "Next", "--start", "2030-01-14T09:00"]
    results = _batch(db_url, [
        ["company", "remove", "1", "--archive"],                     # 0
        ["type", "remove", "Own time", "--archive", "--json"],       # 1
        ["resource", "remove", "room-fjord", "--archive"],           # 2
        ["field", "remove", "Tier", "--archive"],                    # 3
        ["company", "list"],                                         # 4
        ["company", "list", "--all"],                                # 5
        ["type", "list", "--json"],                                  # 6
        ["resource", "list", "--all", "--json"],                     # 7
        [*new_meeting, "--company", "1"],                            # 8
        [*new_meeting, "--type", "Own time"],                        # 9
        [*new_meeting, "--resource", "room-fjord"],                  # 10
        [*new_meeting, "--field", "Tier=Gold"],                      # 11
        ["person", "add", "Per", "--company", "1"],                  # 12
        ["update", "1", "--title", "Kickoff (moved)", "--start", "2030-01-08T09:00", "--json"],  # 13
        ["update", "1", "--company", "2"],                           # 14
        ["update", "1", "--company", "1"],                           # 15
        ["company", "unarchive", "Nordlys AS"],                      # 16
        [*new_meeting, "--company", "1", "--json"],                  # 17
        ["company", "list", "--json"],                               # 18
    ])
    codes = [r.code for r in results]
    assert codes == [0] * 8 + [2] * 5 + [0, 0, 2, 0, 0, 0], [r.err for r in results]
    assert results[0].out == 'archived company 1 "Nordlys AS"\n'
    assert results[1].json() == {"action": "archived", "record": "type", "id": 3, "name": "Own time",
                                 "kind": "meeting", "busy": True, "archived": True}
    assert results[4].out.splitlines()[2:] == ["2   Fjellheim Hotels"]
    assert "Nordlys AS        yes" in results[5].out and results[5].out.splitlines()[0].endswith("ARCHIVED")
    assert "Own time" not in [t["name"] for t in results[6].json()]
    assert [(r["login"], r["archived"]) for r in results[7].json()] == [("room-fjord", True)]
    lines = [r.error_line().removeprefix("followups: error: ") for r in results[8:13]]
    assert lines == [
        'company 1 "Nordlys AS" is archived: the follow-ups that have it keep it, but it cannot be given to others',
        'follow-up type 3 "Own time" is archived: the follow-ups that have it keep it, '
        "but it cannot be given to others",
        'resource room-fjord ("Fjord room") is archived: the follow-ups that have it keep it, '
        "but it cannot be given to others",
        'custom field 2 "Tier" is archived: the follow-ups that have it keep it, but it cannot be given to others',
        'company 1 "Nordlys AS" is archived: the persons that have it keep it, but it cannot be given to others',
    ]
    kept = results[13].json()
    assert (kept["title"], kept["company"]["name"], kept["type"]["name"]) == \
        ("Kickoff (moved)", "Nordlys AS", "Own time")
    assert kept["fields"] == {"Tier": "Gold"}
    assert "is archived" in results[15].err, "once given away, an archived company is not given back"
    assert results[17].json()["company"]["id"] == 1
    assert [c["id"] for c in results[18].json()] == [1, 2]


def test_a_new_follow_up_gets_the_first_type_that_is_not_archived(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'f.db'}"
    _store(url)
    add = ["add", "meeting", "--owner", "anna", "--title", "M", "--start", "2030-01-07T09:00", "--json"]
    results = _batch(url, [
        ["type", "remove", "Meeting (external)", "--archive"],
        add,
        ["type", "remove", "Meeting (internal)", "--archive"],
        ["type", "remove", "Own time", "--archive"],
        ["type", "remove", "Own time"],
        ["type", "remove", "To-do"],
        ["type", "list", "--all", "--json"],
    ])
    assert [r.code for r in results] == [0, 0, 0, 2, 2, 2, 0], [r.err for r in results]
    assert results[1].json()["type"]["name"] == "Meeting (internal)"
    last = "is the last meeting type that is not archived; new meetings need one: add another first"
    assert results[3].error_line().endswith(last) and results[4].error_line().endswith(last)
    assert results[5].error_line().endswith("is the last todo type that is not archived; "
                                            "new todos need one: add another first")
    assert [(t["name"], t["archived"]) for t in results[6].json()][:3] == [
        ("Meeting (external)", True), ("Meeting (internal)", True), ("Own time", False)]


def test_a_field_changes_type_or_choices_only_when_its_values_fit(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'f.db'}"
    todo = ["add", "todo", "--owner", "anna", "--title", "T", "--deadline", "2030-01-07"]
    _store(url, [*todo, "--field", "Budget=12", "--field", "Tier=Gold"],
           [*todo, "--field", "Budget=twelve", "--field", "Tier=Silver"],
           [*todo, "--field", "Budget=1e3"], [*todo, "--field", "Budget=x"])
    results = _batch(url, [
        ["field", "update", "Budget", "--type", "number"],
        ["field", "update", "Tier", "--value", "Gold"],
        ["field", "update", "Tier", "--type", "yesno"],
        ["field", "update", "Tier", "--value", "gold,silver,bronze"],
        ["field", "update", "Tier", "--type", "text", "--json"],
        ["show", "1", "--json"],
        ["show", "2", "--json"],
    ])
    assert [r.code for r in results] == [2, 2, 2, 0, 0, 0, 0], [r.err for r in results]
    assert results[0].error_line() == (
        'followups: error: custom field 1 "Budget" cannot become a number field: 2 follow-ups have values that '
        'would not fit (#2 "twelve", #4 "x"); change or clear them first')
    assert results[1].error_line() == (
        'followups: error: custom field 2 "Tier" cannot be limited to Gold: 1 follow-up has a value that would '
        'not fit (#2 "Silver"); change or clear them first')
    assert "cannot become a yesno field: 2 follow-ups" in results[2].err
    assert results[4].json() == {"id": 2, "name": "Tier", "type": "text", "choices": [], "archived": False}
    assert results[5].json()["fields"] == {"Budget": "12", "Tier": "gold"}
    assert results[6].json()["fields"] == {"Budget": "twelve", "Tier": "silver"}


def test_unarchive_and_archive_are_idempotent(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'f.db'}"
    _store(url)
    results = _batch(url, [
        ["project", "unarchive", "1"],
        ["project", "remove", "1", "--archive"],
        ["project", "remove", "1", "--archive"],
        ["project", "unarchive", "1", "--json"],
    ])
    _all_ok(results)
    assert results[0].out == 'unarchived project 1 "ERP rollout"\n'
    assert results[3].json() == {"id": 1, "name": "ERP rollout", "archived": False}
    assert ok(url, "project", "list", "--json").json() == [{"id": 1, "name": "ERP rollout", "archived": False}]
