"""``followups feed create|list|revoke``: secret subscription URLs for calendar apps.

A feed's URL is its only credential, so ``create`` prints it once (only a hash
of its token is stored) and says so; ``list`` never shows a token.
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import Any
from zoneinfo import ZoneInfo

from server.cli.common import Context, UsageError, add_json, emit_json, record_id, short, table, warn
from server.services import feeds

CREATE_EPILOG = (
    "The URL works without a password, read-only: anyone who has it reads that calendar, so share it "
    "like a password. It is shown only now (the server keeps a hash of it, not the URL); to replace it, "
    "`followups feed revoke ID` and create a new one. Private follow-ups are masked unless USER may see "
    "them in full. Subscribe in Thunderbird (New Calendar -> On the Network, paste the https URL), Apple "
    "Calendar (File -> New Calendar Subscription) or a phone (open the webcal URL); phones need https.")


def _days(text: str) -> int:
    try:
        return feeds.parse_days(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _base(ctx: Context) -> str:
    base = feeds.base_url(ctx.settings)
    if not base.lower().startswith(("https://", "http://")):
        raise UsageError(f"--public-url {base!r} is not an http(s) address: use e.g. https://cal.example.com")
    if base.lower().startswith("http://") and not feeds.is_local(base):
        warn(f"the feed URL is plain http ({base}): phones need https, and over http the secret URL travels "
             "in the clear; set --public-url https://... (public_url) to the address users reach")
    return base


def cmd_create(ctx: Context) -> int:
    a = ctx.args
    what, rid = feeds.parse_what(a.what)
    base = _base(ctx)
    feed, token = feeds.create(ctx.engine(), a.user, what, rid, a.from_days, a.to_days,
                               limit=ctx.settings.max_feeds)
    url, webcal = feeds.urls(base, token)
    if ctx.json:
        emit_json({**feed.as_dict(), "url": url, "webcal": webcal})
        return 0
    print(url)
    print(webcal)
    sys.stderr.write(f"created feed {feed.id} for {feed.owner}: {feed.label}, {feed.window} around today. "
                     "The URL is shown only now and works without a password: keep it secret "
                     f"(`followups feed revoke {feed.id}` ends it).\n")
    return 0


def cmd_list(ctx: Context) -> int:
    a = ctx.args
    found = feeds.feeds_of(ctx.engine(), a.user, include_revoked=a.all)
    if ctx.json:
        emit_json([f.as_dict() for f in found])
        return 0
    table([(f.id, f.what if f.record_id is None else f"{f.what}:{f.record_id}", f.label, f.window,
            short(f.created_at, ZoneInfo(f.tz)), short(f.revoked_at, ZoneInfo(f.tz)) if f.revoked_at else None)
           for f in found], ["ID", "WHAT", "LABEL", "WINDOW", "CREATED", "REVOKED"])
    return 0


def cmd_revoke(ctx: Context) -> int:
    a = ctx.args
    feed, changed = feeds.revoke_feed(ctx.engine(), a.id, a.user)
    if ctx.json:
        emit_json({**feed.as_dict(), "changed": changed})
    elif changed:
        print(f"revoked feed {feed.id} of {feed.owner} ({feed.label}): its URL now answers 404")
    else:
        assert feed.revoked_at is not None
        print(f"feed {feed.id} of {feed.owner} was already revoked "
              f"({short(feed.revoked_at, ZoneInfo(feed.tz))})")
    return 0


def register(sub: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    """Add ``followups feed`` and its commands to the ``followups`` parser."""
    p = sub.add_parser("feed", help="secret subscription URLs (webcal) for calendar apps",
                       description="Subscription feeds: a secret URL that a calendar app (Thunderbird, Apple "
                                   "Calendar, Google Calendar, a phone) polls without a login, read-only. A feed "
                                   "shows a user's meetings, to-dos and calls, or everything, or the Activities "
                                   "of a company, person, sale or project, within a window of days around today.")
    feed_sub = p.add_subparsers(dest="feed_command", metavar="COMMAND", required=True, parser_class=parser_class)

    c = feed_sub.add_parser("create", help="make a feed and print its URL (shown only once)",
                            description="Make a feed of USER's and print its URL, then its webcal:// form. "
                                        "The base is --public-url (public_url), else http://HOST:PORT of the "
                                        "settings.", epilog=CREATE_EPILOG)
    c._negative_number_matcher = re.compile(r"^-\d+d?$")  # so that `--from -30d` reads as a value
    c.add_argument("user", metavar="USER", help="whose feed it is: the login whose view of private follow-ups applies")
    c.add_argument("--what", required=True, metavar="WHAT",
                   help=f"what the feed shows: {feeds.WHAT_HELP} (tasks: to-dos and calls)")
    c.add_argument("--from", dest="from_days", type=_days, default=-30, metavar="DAYS",
                   help="first day, in days from today in USER's time zone (default: -30d)")
    c.add_argument("--to", dest="to_days", type=_days, default=365, metavar="DAYS",
                   help=f"last day, in days from today (default: +365d); at most {feeds.MAX_WINDOW_DAYS} days "
                        "in all")
    c.add_argument("--public-url", dest="public_url", metavar="URL", default=argparse.SUPPRESS,
                   help="the server's address as users reach it, e.g. https://cal.example.com "
                        "(default: public_url of the settings; environment: $FOLLOWUPS_PUBLIC_URL)")
    c.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                   help="print JSON for scripts: the feed with its id, url and webcal")
    c.set_defaults(handler=cmd_create)

    c = feed_sub.add_parser("list", help="a user's feeds (never their URLs)",
                            description="USER's feeds: id, what each shows, its window and when it was created "
                                        "(and revoked, with --all), in USER's time zone. URLs are not stored, so "
                                        "they cannot be listed.")
    c.add_argument("user", metavar="USER", help="a user's login")
    c.add_argument("--all", action="store_true", help="also list revoked feeds")
    add_json(c)
    c.set_defaults(handler=cmd_list)

    c = feed_sub.add_parser("revoke", help="end a feed: its URL answers 404 from now on",
                            description="Revoke feed ID (see `followups feed list USER`): its URL answers 404 "
                                        "from now on, the same as a URL that never existed. Calendar apps that "
                                        "subscribed keep what they fetched last. Revoking twice changes nothing.")
    c.add_argument("id", type=record_id, help="the feed's id")
    c.add_argument("--user", metavar="USER", help="refuse unless the feed is USER's (a check for scripts)")
    add_json(c)
    c.set_defaults(handler=cmd_revoke)
