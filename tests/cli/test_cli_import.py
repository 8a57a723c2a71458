"""``followups import`` from the command line: the summary a user reads, the JSON a script
reads, one error line (exit 2) for a file that does not parse, and ``--dry-run``."""

from __future__ import annotations

from pathlib import Path

from tests.cli.clirun import Result, ok, run_batch, run_cli
from tests.cli.dbdump import dump_tables

DATA = Path(__file__).resolve().parents[1] / "data" / "import"
GOOGLE = str(DATA / "google_calendar_export.ics")
SKIPPED_UID = "5s0d2vq8rbk6i1o3h9tj4l7m2n_R20240101T140000@google.com"


def _setup(url: str) -> None:
    results = run_batch(url, [(["init"], ""), (["user", "add", "anna", "--name", "Anna Berg", "--email",
                                                 "anna@example.com", "--tz", "Europe/Oslo"], "")])
    assert [r.code for r in results] == [0, 0], [r.err for r in results]


def test_import_prints_a_summary_and_each_skip_with_its_reason(db_url: str) -> None:
    _setup(db_url)
    before = dump_tables(db_url)
    dry = ok(db_url, "import", GOOGLE, "--owner", "anna", "--dry-run")
    assert dry.out.splitlines()[0] == (f"would import {GOOGLE} into anna's calendars: 3 created, 0 updated, "
                                       "0 unchanged, 1 skipped (dry run: nothing was written)")
    assert dump_tables(db_url) == before

    first = ok(db_url, "import", GOOGLE, "--owner", "anna")
    lines = first.out.splitlines()
    assert lines[0] == f"imported {GOOGLE} into anna's calendars: 3 created, 0 updated, 0 unchanged, 1 skipped"
    assert lines[1] == (f"skipped {SKIPPED_UID} 'Supplier status (one week only)': the object holds only "
                        "overridden instances (RECURRENCE-ID), not a series")
    assert len(lines) == 2
    assert first.err == ""  # no progress bar when stderr is not a terminal

    again = run_cli(db_url, "import", "-", "--owner", "anna", "--json", stdin=(DATA / "google_calendar_export.ics")
                    .read_text(encoding="utf-8"))
    assert again.code == 0, again.err
    data = again.json()
    assert list(data) == ["owner", "dry_run", "counts", "created", "updated", "unchanged", "skipped"]
    assert data["owner"] == "anna" and data["dry_run"] is False
    assert data["counts"] == {"created": 0, "updated": 0, "unchanged": 3, "skipped": 1}
    assert data["unchanged"][0] == {"uid": "1lq7c3v0e2mbf4rq9s8h5t6k0a@google.com", "summary": "Weekly planning",
                                    "component": "VEVENT"}
    assert data["skipped"] == [{"uid": SKIPPED_UID, "summary": "Supplier status (one week only)",
                                "component": "VEVENT", "reason": "the object holds only overridden instances "
                                                                 "(RECURRENCE-ID), not a series"}]


def _error(result: Result) -> str:
    assert result.code == 2, (result.out, result.err)
    assert result.out == ""
    return result.error_line()


def test_a_file_that_does_not_parse_is_one_line_and_changes_nothing(db_url: str, tmp_path: Path) -> None:
    _setup(db_url)
    before = dump_tables(db_url)
    truncated = str(DATA / "truncated_export.ics")
    latin1 = tmp_path / "latin1.ics"
    latin1.write_bytes((DATA / "thunderbird_export.ics").read_bytes().replace(b"Supplier", b"Leverand\xf8r"))
    results = run_batch(db_url, [
        (["import", truncated, "--owner", "anna"], ""),
        (["import", str(latin1), "--owner", "anna"], ""),
        (["import", "-", "--owner", "anna"], "<html><body>Sign in</body></html>\n"),
        (["import", GOOGLE, "--owner", "nobody"], ""),
        (["import", str(tmp_path / "missing.ics"), "--owner", "anna"], ""),
    ])
    lines = [_error(r) for r in results]
    assert lines[0] == (f"followups: error: {truncated} is not a calendar file this server can read: the file "
                        "ends inside BEGIN:VEVENT of line 86: it is truncated, or END:VEVENT is missing; "
                        "nothing was imported")
    assert "is not UTF-8 text" in lines[1] and "save it as UTF-8" in lines[1]
    assert lines[2].startswith("followups: error: stdin is not a calendar file this server can read: line 1 is "
                               "not an iCalendar content line")
    assert lines[3] == "followups: error: no user 'nobody' to import for (see `followups user list`)"
    assert lines[4].startswith(f"followups: error: cannot read {tmp_path / 'missing.ics'}")
    assert dump_tables(db_url) == before
