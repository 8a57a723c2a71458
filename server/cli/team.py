"""``followups freebusy|grant|revoke``: a team on one server, from the CRM's side."""

from __future__ import annotations

import argparse
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from server.cli.common import Context, UsageError, add_json, emit_json, parse_moment, table
from server.services import freebusy, grants
from server.services.transaction import transaction
from store.errors import NotFound
from store.localtime import midnight


def _zone_of(ctx: Context, principal: str) -> ZoneInfo:
    """The user's zone (times are shown and read in it); UTC for a resource."""
    with transaction(ctx.engine(), write=False) as uow:
        try:
            return ZoneInfo(uow.users.by_login(principal).tz)
        except NotFound:
            uow.resources.by_login(principal)  # a clear error when it is neither
            return ZoneInfo("UTC")


def _when(text: str | None, default: date, zone: ZoneInfo, what: str) -> datetime:
    if text is None:
        return midnight(default, zone)
    moment = parse_moment(text, zone, what)
    return moment if isinstance(moment, datetime) else midnight(moment, zone)


def cmd_freebusy(ctx: Context) -> int:
    a = ctx.args
    zone = _zone_of(ctx, a.who)
    today = datetime.now(zone).date()
    start = _when(a.start, today, zone, "--from")
    end = _when(a.end, today + timedelta(days=7), zone, "--to")
    start, end = freebusy.window(start, end)
    found = freebusy.periods(ctx.engine(), a.who, start, end)
    if ctx.json:
        emit_json({"who": a.who, "from": start.isoformat(), "to": end.isoformat(),
                   "busy": [{"start": b.start.astimezone(zone).isoformat(), "end": b.end.astimezone(zone).isoformat(),
                             "type": b.fbtype} for b in found]})
        return 0
    table([(b.start.astimezone(zone).strftime("%Y-%m-%d %H:%M"), b.end.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
            "busy" if b.fbtype == freebusy.BUSY else "tentative") for b in found],
          ["FROM", "TO", "STATUS"])
    return 0


def cmd_grant(ctx: Context) -> int:
    a = ctx.args
    if a.list:
        found = grants.pairs(ctx.engine())
        if ctx.json:
            emit_json([{"lead": lead, "reads": user} for lead, user in found])
        else:
            table(found, ["LEAD", "READS"])
        return 0
    if not a.lead or not a.reads:
        raise UsageError("name a lead and --reads USER (or use --list)")
    added = grants.grant(ctx.engine(), a.lead, a.reads)
    if ctx.json:
        emit_json({"lead": a.lead, "reads": a.reads, "changed": added})
    else:
        print(f"{a.lead} {'may now read' if added else 'could already read'} {a.reads}'s meetings and tasks")
    return 0


def cmd_revoke(ctx: Context) -> int:
    a = ctx.args
    removed = grants.revoke(ctx.engine(), a.lead, a.reads)
    if ctx.json:
        emit_json({"lead": a.lead, "reads": a.reads, "changed": removed})
    else:
        print(f"{a.lead} {'no longer reads' if removed else 'did not read'} {a.reads}'s meetings and tasks")
    return 0


def register(sub: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("freebusy", help="when a user or a resource is busy",
                       description="The busy time of a user (meetings and made calls they own, invitations they "
                                   "accepted; not yet answered or tentative ones as 'tentative') or of a resource "
                                   "(bookings it did not decline), as colleagues' calendar clients see it: free, "
                                   "cancelled and declined time does not count, and private follow-ups show only "
                                   "their times. Default: the next 7 days; at most a year.")
    p.add_argument("who", help="a user's or a resource's login")
    p.add_argument("--from", dest="start", metavar="WHEN", help="start (date or date-time, in the user's zone)")
    p.add_argument("--to", dest="end", metavar="WHEN", help="end (date or date-time, in the user's zone)")
    add_json(p)
    p.set_defaults(handler=cmd_freebusy)

    p = sub.add_parser("grant", help="let a lead read a user's diary (read-only)",
                       description="Let LEAD read USER's meetings and to-dos in their calendar client, read-only "
                                   "(add /USER/meetings/ and /USER/tasks/ as calendars). Private follow-ups show as "
                                   "busy blocks with their times only. --list shows every grant.")
    p.add_argument("lead", nargs="?", help="the lead's login")
    p.add_argument("--reads", metavar="USER", help="whose diary the lead may read")
    p.add_argument("--list", action="store_true", help="list every grant")
    add_json(p)
    p.set_defaults(handler=cmd_grant)

    p = sub.add_parser("revoke", help="take a lead's read access back",
                       description="Take back what `followups grant LEAD --reads USER` gave.")
    p.add_argument("lead", help="the lead's login")
    p.add_argument("--reads", metavar="USER", required=True, help="whose diary the lead no longer reads")
    add_json(p)
    p.set_defaults(handler=cmd_revoke)
