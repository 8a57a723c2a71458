"""``followups add|show|update|done|call-made|cancel|delete``: one follow-up at a time,
or one occurrence of a series (``--occurrence``, :mod:`server.cli.occurrences`).

Every write goes through :mod:`server.services.followups`, in one transaction, so a
rejected option leaves the store as it was and the calendars stay current; the options
become a follow-up in :mod:`server.cli.followup_options`. Times are read in the owner's
zone; on daylight-saving days see :func:`server.cli.common.parse_moment`, and lengths
are real elapsed time (:func:`store.localtime.later`).
"""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import Any

from server.cli.common import (
    Context,
    add_json,
    emit_json,
    non_negative_int,
    parse_datetime,
    positive_int,
    priority_option,
    record_id,
    tz_option,
)
from server.cli.followup_options import build, change_from
from server.cli.occurrences import OCCURRENCE_HELP, cancel_occurrence, delete_occurrence, update_occurrence
from server.cli.views import done_with, show_followup, warn_clashes
from server.services import followups as services
from server.services.transaction import transaction
from store.domain import Kind
from store.localtime import elapsed, zone

# -- commands ------------------------------------------------------------------------------------


def cmd_add(ctx: Context) -> int:
    engine = ctx.engine()
    with transaction(engine, write=False) as uow:
        f = build(uow, Kind(ctx.args.kind), ctx.args)
    services.create(engine, f)
    assert f.id is not None
    warn_clashes(ctx, f.id)
    if ctx.json:
        show_followup(ctx, f.id)
    else:
        print(f.id)
    return 0


def cmd_show(ctx: Context) -> int:
    show_followup(ctx, ctx.args.id)
    return 0


def cmd_update(ctx: Context) -> int:
    if ctx.args.occurrence is not None:
        return update_occurrence(ctx)
    f = services.modify(ctx.engine(), ctx.args.id, change_from(ctx.args))
    assert f.id is not None
    warn_clashes(ctx, f.id)
    return done_with(ctx, f, "updated")


def cmd_done(ctx: Context) -> int:
    return done_with(ctx, services.done(ctx.engine(), ctx.args.id), "done")


def cmd_call_made(ctx: Context) -> int:
    engine = ctx.engine()
    at = None
    if ctx.args.at:
        with transaction(engine, write=False) as uow:
            owner = uow.users.get(uow.followups.get(ctx.args.id).owner_id)
        at = parse_datetime(ctx.args.at, zone(owner.tz), "--at")
    f = services.call_made(engine, ctx.args.id, at, ctx.args.duration)
    assert isinstance(f.start, datetime) and f.end is not None
    minutes = int(elapsed(f.start, f.end).total_seconds() // 60)
    return done_with(ctx, f, f"made at {f.start.isoformat()} ({minutes} min)")


def cmd_cancel(ctx: Context) -> int:
    if ctx.args.occurrence is not None:
        return cancel_occurrence(ctx)
    return done_with(ctx, services.cancel(ctx.engine(), ctx.args.id), "cancelled")


def cmd_delete(ctx: Context) -> int:
    if ctx.args.occurrence is not None:
        return delete_occurrence(ctx)
    f = services.delete(ctx.engine(), ctx.args.id)
    if ctx.json:
        emit_json({"id": f.id, "uid": f.uid, "deleted": True})
    else:
        print(f"follow-up {f.id} deleted")
    return 0


# -- the parser ----------------------------------------------------------------------------------

TIME_HELP = ("ISO date (all day) or date and time; without an offset, in the owner's time zone "
             "(or --tz)")
DST_HELP = ("A local time that a daylight-saving change skips becomes the first valid time after it, and "
            "one that happens twice the first of the two; either is a warning on stderr.")


def _options(p: argparse.ArgumentParser, update: bool) -> None:
    g = p.add_argument_group("what")
    g.add_argument("--owner", required=not update, metavar="USER", help="login of the user it belongs to")
    g.add_argument("--title", required=not update, metavar="TEXT", help="short label")
    g.add_argument("--type", metavar="NAME|ID", help="activity type (default: the first of its kind)")
    g.add_argument("--agenda", metavar="TEXT", help="description")
    g.add_argument("--notes", metavar="TEXT", help="internal notes")
    g = p.add_argument_group("concerning")
    for name in ("company", "person", "sale", "project"):
        g.add_argument(f"--{name}", metavar="ID|NAME", help=f"the {name} it concerns")
        if update:
            g.add_argument(f"--no-{name}", action="store_true", help=f"unlink the {name}")
    g = p.add_argument_group("time")
    g.add_argument("--start", metavar="TIME", help=f"start; {TIME_HELP}")
    g.add_argument("--end", metavar="TIME", help="end (exclusive for all-day)")
    g.add_argument("--deadline", metavar="TIME", help="when a to-do or planned call is due")
    g.add_argument("--tz", type=tz_option, metavar="ZONE", help="zone of times without offset (IANA name)")
    g.add_argument("--duration", type=positive_int, metavar="MIN", help="length in minutes instead of --end")
    g.add_argument("--rrule", metavar="RULE", help="recurrence rule, e.g. FREQ=WEEKLY;BYDAY=MO;COUNT=10")
    g.add_argument("--rdate", dest="rdates", action="append", metavar="TIME", help="an extra occurrence (repeatable)")
    g.add_argument("--exdate", dest="exdates", action="append", metavar="TIME",
                   help="an occurrence left out (repeatable" + ("; replaces the list)" if update else ")"))
    if update:
        g.add_argument("--no-start", action="store_true", help="take a to-do out of the diary (clears start, end)")
        g.add_argument("--no-deadline", action="store_true", help="clear the deadline")
        g.add_argument("--no-recurrence", action="store_true", help="make it a single follow-up")
    g = p.add_argument_group("availability and alarm")
    busy = g.add_mutually_exclusive_group()
    busy.add_argument("--busy", action="store_true", help="shown as busy (default: from the type)")
    busy.add_argument("--free", action="store_true", help="shown as free")
    g.add_argument("--alarm", type=non_negative_int, metavar="MINUTES", help="remind the owner this long before")
    g.add_argument("--priority", type=priority_option, metavar="1-9", help="1 high .. 9 low")
    if update:
        g.add_argument("--no-alarm", action="store_true", help="remove the alarm")
        g.add_argument("--no-priority", action="store_true", help="clear the priority")
    private = g.add_mutually_exclusive_group() if update else g
    private.add_argument("--private", action="store_true", help="visible to the owner and participants only")
    if update:
        private.add_argument("--public", action="store_true", help="no longer private")
    g = p.add_argument_group("invitation")
    replaces = "; replaces the list" if update else ""
    g.add_argument("--participant", dest="participants", action="append", metavar="WHO",
                   help=f"a user login, person:ID, or 'Name <address>' (repeatable{replaces})")
    g.add_argument("--resource", dest="resources", action="append", metavar="LOGIN",
                   help=f"book a room or equipment (repeatable{replaces})")
    g.add_argument("--location", metavar="TEXT", help="place or address")
    g.add_argument("--conference", metavar="URL", help="video conference link")
    if update:
        g.add_argument("--no-participants", action="store_true", help="remove every participant")
        g.add_argument("--no-resources", action="store_true", help="release every resource")
    g = p.add_argument_group("custom fields")
    g.add_argument("--field", dest="fields", action="append", metavar="NAME=VALUE",
                   help="set a custom field (repeatable; NAME= clears it)")
    if update:
        p.add_argument("--undone", action="store_true", help="mark it not completed (a made call: planned again)")
        p.add_argument("--uncancel", action="store_true", help="restore a cancelled meeting")
    else:
        p.add_argument("--done", action="store_true", help="create it completed (a call: made now, or at --start)")
    add_json(p)


def register(sub: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    add = sub.add_parser("add", help="create a meeting, to-do or call",
                         description="Create a follow-up; prints its id (with --json, the follow-up). A clash "
                                     "with another busy follow-up (a shared person or resource at the same "
                                     "time) is a warning on stderr, one line each; the follow-up is created. "
                                     f"{DST_HELP} A --duration is real elapsed time.")
    kinds = add.add_subparsers(dest="kind", metavar="KIND", required=True, parser_class=parser_class)
    notes = {
        Kind.MEETING: "A meeting needs --start; without --end or --duration it lasts the owner's default.",
        Kind.TODO: "A to-do needs --deadline; with --start (and --end) it is also placed in the diary.",
        Kind.CALL: "A planned call needs --deadline. With --start it is a call already made, lasting "
                   "--duration (default: the owner's call length).",
    }
    for kind in Kind:
        p = kinds.add_parser(kind.value, help=f"create a {kind.value}", description=notes[kind])
        _options(p, update=False)
        p.set_defaults(handler=cmd_add)

    p = sub.add_parser("show", help="show a follow-up",
                       description="Show every property of a follow-up, and the busy follow-ups it clashes "
                                   "with (see `followups conflicts --help`).")
    p.add_argument("id", type=record_id)
    add_json(p)
    p.set_defaults(handler=cmd_show)

    p = sub.add_parser("update", help="change a follow-up",
                       description="Change a follow-up; only the options given change. Moving a meeting keeps "
                                   "its length (in real time) unless --end or --duration is given. Clashes with "
                                   "other busy follow-ups are warnings on stderr, one line each. With "
                                   "--occurrence, only that occurrence of a series changes (--start, --end, "
                                   "--duration, --title, --location, --agenda); moving it asks the meeting's "
                                   "participants again, as moving the whole meeting does. "
                                   f"{DST_HELP}")
    p.add_argument("id", type=record_id)
    _options(p, update=True)
    p.add_argument("--occurrence", metavar="DATE", help=OCCURRENCE_HELP)
    p.set_defaults(handler=cmd_update, option_flags={action.dest: action.option_strings[0]
                                                     for action in p._actions if action.option_strings})

    for name, handler, text, occurrence in (
        ("done", cmd_done, "mark a meeting or to-do completed", None),
        ("cancel", cmd_cancel, "cancel a meeting (it stays in the calendars, marked cancelled)",
         "only that occurrence is cancelled (STATUS:CANCELLED on its RECURRENCE-ID)"),
        ("delete", cmd_delete, "delete a follow-up for good",
         "only that occurrence is removed from the series (an EXDATE)"),
    ):
        p = sub.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
        p.add_argument("id", type=record_id)
        if occurrence:
            p.add_argument("--occurrence", metavar="DATE", help=f"{occurrence}; {OCCURRENCE_HELP}")
        add_json(p)
        p.set_defaults(handler=handler)

    p = sub.add_parser("call-made", help="record a planned call as made",
                       description="Record a call as made: it starts now (or --at) and lasts the owner's "
                                   "call length (or --duration).")
    p.add_argument("id", type=record_id)
    p.add_argument("--at", metavar="TIME", help="when it was made (default now); owner's zone unless an offset")
    p.add_argument("--duration", type=positive_int, metavar="MIN", help="length in minutes")
    add_json(p)
    p.set_defaults(handler=cmd_call_made)
