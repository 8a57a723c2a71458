"""``followups feed create|list|revoke``: the URL printed once (https and webcal), lists that
never show a token, revocation, and one-line errors. Serving feeds is tests/server/test_feeds.py."""

from __future__ import annotations

import hashlib
import re

import pytest
from sqlalchemy import create_engine, text

from store import db
from tests.cli.clirun import Result, run_batch, run_cli

SETUP: list[list[str]] = [
    ["init"],
    ["user", "add", "anna", "--name", "Anna Berg", "--email", "anna@example.com", "--tz", "Europe/Oslo"],
    ["user", "add", "bjorn", "--name", "Bjørn Dahl", "--email", "bjorn@example.com"],
    ["company", "add", "Nordlys AS"],
]
TOKEN = re.compile(r"/feeds/([A-Za-z0-9_-]{43})\.ics$")


def _batch(url: str, commands: list[list[str]]) -> list[Result]:
    return run_batch(url, [(c, "") for c in commands])


def test_create_list_and_revoke(db_url: str) -> None:
    results = _batch(db_url, [
        *SETUP,
        ["feed", "create", "anna", "--what", "meetings"],
        ["feed", "create", "anna", "--what", "company:1", "--from", "-7d", "--to", "+90d", "--json",
         "--public-url", "https://cal.example.com/"],
        ["--public-url", "http://cal.example.com", "feed", "create", "anna", "--what", "all", "--from", "0"],
        ["feed", "list", "anna"],
        ["feed", "revoke", "1"],
        ["feed", "revoke", "1", "--json"],
        ["feed", "list", "anna", "--json"],
        ["feed", "list", "anna", "--all", "--json"],
        ["feed", "list", "bjorn"],
    ])
    assert [r.code for r in results] == [0] * len(results), [r.err for r in results if r.code]
    made, as_json, plain_http, listed, revoked, again, live, every, none = results[len(SETUP):]

    https, webcal = made.out.splitlines()
    assert https.startswith("http://127.0.0.1:5232/feeds/") and webcal == "webcal://" + https[len("http://"):]
    assert "shown only now" in made.err and "warning" not in made.err, "localhost needs no https"
    data = as_json.json()
    assert (data["id"], data["what"], data["record_id"], data["label"]) == (2, "company", 1, "Activities of Nordlys AS")
    assert (data["from_days"], data["to_days"]) == (-7, 90)
    assert data["url"].startswith("https://cal.example.com/feeds/") and data["webcal"].startswith("webcal://cal.")
    assert "followups: warning:" in plain_http.err and "https" in plain_http.err
    tokens = [TOKEN.search(u).group(1) for u in (https, data["url"], plain_http.out.splitlines()[0])]  # type: ignore[union-attr]

    assert listed.out.splitlines()[0].split() == ["ID", "WHAT", "LABEL", "WINDOW", "CREATED", "REVOKED"]
    assert "company:1" in listed.out and "-7d to +90d" in listed.out and "+0d to +365d" in listed.out
    assert revoked.out.startswith("revoked feed 1 of anna (Meetings)")
    assert again.json()["changed"] is False and again.json()["revoked_at"]
    assert [f["id"] for f in live.json()] == [2, 3]
    assert [(f["id"], f["revoked_at"] is not None) for f in every.json()] == [(1, True), (2, False), (3, False)]
    assert none.out == "(none)\n"
    for token in tokens:
        assert all(token not in r.out + r.err for r in (listed, revoked, again, live, every))

    engine = create_engine(db.normalize_url(db_url))
    with engine.connect() as conn:
        stored = [tuple(r) for r in conn.execute(text("SELECT * FROM feeds ORDER BY id"))]
    engine.dispose()
    assert [r[2] for r in stored] == [hashlib.sha256(t.encode()).hexdigest() for t in tokens]
    assert not any(t in repr(stored) for t in tokens)


def test_bad_feed_commands_are_one_line(db_url: str) -> None:
    results = _batch(db_url, [
        *SETUP,
        ["feed", "create", "anna", "--what", "company:99"],
        ["feed", "create", "anna", "--what", "everything"],
        ["feed", "create", "anna", "--what", "company"],
        ["feed", "create", "nobody", "--what", "tasks"],
        ["feed", "create", "anna", "--what", "tasks", "--from", "+3d", "--to", "-3d"],
        ["feed", "create", "anna", "--what", "tasks", "--to", "+2000d"],
        ["feed", "create", "anna", "--what", "tasks", "--from", "last week"],
        ["feed", "create", "anna", "--what", "tasks", "--public-url", "cal.example.com"],
        ["feed", "create", "anna", "--what", "tasks"],
        ["feed", "revoke", "1", "--user", "bjorn"],
        ["feed", "revoke", "42"],
        ["feed", "list", "nobody"],
    ])
    bad = results[len(SETUP):]
    assert [r.code for r in bad] == [2] * 8 + [0] + [2] * 3, [(r.code, r.err) for r in bad]
    lines = [r.error_line() for i, r in enumerate(bad) if i != 8]
    assert "no company with id 99" in lines[0] and "followups company list" in lines[0]
    assert "company:ID" in lines[1]
    assert "company:ID" in lines[2]
    assert "no user 'nobody'" in lines[3]
    assert "--from must be at most --to" in lines[4]
    assert "at most 1830 days" in lines[5]
    assert "-30d" in lines[6]
    assert "not an http(s) address" in lines[7]
    assert "no feed 1 of bjorn's" in lines[8]
    assert "no feed 42" in lines[9]
    assert "no user 'nobody'" in lines[10]


def test_feed_create_stops_at_max_feeds(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOLLOWUPS_MAX_FEEDS", "1")
    for args in SETUP[:2]:
        assert run_cli(db_url, *args).code == 0
    assert run_cli(db_url, "feed", "create", "anna", "--what", "tasks").code == 0
    refused = run_cli(db_url, "feed", "create", "anna", "--what", "meetings")
    assert refused.code == 2 and "max_feeds = 1" in refused.error_line() and refused.out == ""
    assert run_cli(db_url, "feed", "revoke", "1").code == 0
    assert run_cli(db_url, "feed", "create", "anna", "--what", "meetings").code == 0


def test_feed_help() -> None:
    commands = [(["feed", c, "--help"], "") for c in ("create", "list", "revoke")]
    create, listing, revoke = run_batch("sqlite://", commands)
    create_text, listing_text = " ".join(create.out.split()), " ".join(listing.out.split())  # argparse wraps
    assert create.code == 0 and "shown only now" in create_text and "webcal" in create_text
    assert "--from DAYS" in create_text and "company:ID" in create_text
    assert "cannot be listed" in listing_text and "--all" in listing_text
    assert "404" in revoke.out
