"""``followups diary|todo|activities``: the CRM's own views of follow-ups."""

from __future__ import annotations

import argparse
import sys
from datetime import date, datetime, timedelta
from typing import IO, Any
from zoneinfo import ZoneInfo

from server.cli.common import (
    PROG,
    Context,
    UsageError,
    add_json,
    emit_json,
    lookup,
    month_end,
    pairs,
    parse_day,
    parse_month,
    parse_week,
    record_id,
    short,
    table,
    tz_option,
)
from server.services import conflicts, diary, followups, views
from server.services.directory import DbDirectory
from server.services.transaction import transaction
from store.domain import Followup, Moment
from store.errors import NotFound
from store.localtime import is_date, midnight, zone
from store.uow import UnitOfWork

CONFLICT_DAYS = 30
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def window(a: argparse.Namespace, today: date) -> tuple[str, date, date]:
    """The view's name and its first and last-plus-one day; a day outside what a diary
    shows (years 2 to 9998) is one line and exit 2, never an overflow."""
    if a.day:
        name, first, what = "day", parse_day(a.day), f"--day {a.day}"
    elif a.month:
        name, first, what = "month", parse_month(a.month), f"--month {a.month}"
    elif a.week:
        name, first, what = "week", parse_week(a.week), f"--week {a.week}"
    else:
        name, first, what = "week", today - timedelta(days=today.weekday()), f"this week ({today})"
    diary.check_day(first, what)
    last = first + timedelta(days=1) if name == "day" else month_end(first) if name == "month" else \
        first + timedelta(days=7)
    diary.check_day(last - timedelta(days=1), what)
    return name, first, last


def diary_entries(uow: UnitOfWork, login: str, a: argparse.Namespace) -> tuple[ZoneInfo, list[Any]]:
    """The user's meetings and calls in the window, recurring ones expanded,
    ordered by start as seen in the user's zone."""
    user = uow.users.by_login(login)
    tz = zone(user.tz)
    _, first, last = window(a, datetime.now(tz).date())
    return tz, diary.entries(uow, user, first, last, tz)


def cmd_diary(ctx: Context) -> int:
    a = ctx.args
    if a.overview is not None:
        if a.user is not None:
            raise UsageError(f"give a USER or --overview USER,..., not both ({a.user!r} and {a.overview!r})")
        return overview(ctx)
    if a.user is None:
        raise UsageError("give a USER, or --overview USER[,USER...] for several side by side")
    if a.viewer is not None:
        raise UsageError("--as goes with --overview (one user's own diary is shown in full)")
    with transaction(ctx.engine(), write=False) as uow:
        tz, entries = diary_entries(uow, a.user, a)
        d = DbDirectory(uow)
        rows = [views.instance_dict(i, d, tz) for i in entries]
    if ctx.json:
        emit_json(rows)
        return 0
    table([(_when(i.start, i.end, tz), r["kind"], r["id"], _flags(r), r["title"],
            r["owner"] if r["owner"] != a.user else None, r["location"] or None)
           for i, r in zip(entries, rows, strict=True)],
          ["WHEN", "KIND", "ID", "FLAGS", "TITLE", "OWNER", "LOCATION"])
    return 0


def overview(ctx: Context) -> int:
    """The Overview: several users' diaries for a day or a week, side by side, as the viewer may see them."""
    a = ctx.args
    if a.month:
        raise UsageError("the Overview is a day or week plan: use --day DATE or --week YYYY-Www, not --month")
    with transaction(ctx.engine(), write=False) as uow:
        users, viewer = diary.team(uow, a.overview.split(","), a.viewer)
        name, first, last = window(a, datetime.now(zone(viewer.tz)).date())
        found = diary.overview(uow, DbDirectory(uow), users, viewer, name, first, last)
    if ctx.json:
        emit_json(found.as_dict())
        return 0
    print_overview(found)
    return 0


def print_overview(o: diary.Overview, out: IO[str] | None = None) -> None:
    """One block per day; in it, one group of lines per user: time, flags, id, title (location)."""
    out = out or sys.stdout
    last = o.last - timedelta(days=1)
    span = f"{o.first}" if last == o.first else f"{o.first} to {last}"
    out.write(f"Overview {span} as {o.viewer}, times in {o.tz.key}: "
              + ", ".join(f"{c.login} ({c.name})" for c in o.columns) + "\n")
    out.write("Flags: R recurring, I invitation, P private, t tentative, x cancelled, f free\n")
    blocks: list[tuple[date, list[tuple[str, ...]]]] = []
    for day in o.days():
        start, end = midnight(day, o.tz), midnight(day + timedelta(days=1), o.tz)
        rows: list[tuple[str, ...]] = []
        for c in o.columns:
            lines = [_overview_line(e, day, o.tz) for e in c.entries
                     if diary.overlaps(e.start, e.end, start, end, o.tz)]
            rows += [(c.login if n == 0 else "", *line) for n, line in enumerate(lines or [("-", "", "", "")])]
        blocks.append((day, rows))
    widths = [max(len(r[i]) for _, rows in blocks for r in rows) for i in range(4)]
    for day, rows in blocks:
        out.write(f"\n{WEEKDAYS[day.weekday()]} {day}\n")
        for row in rows:
            cells = [cell.ljust(w) for cell, w in zip(row, widths, strict=False)]
            out.write(("  " + "  ".join([*cells, row[4]])).rstrip() + "\n")


def _overview_line(e: diary.Entry, day: date, tz: ZoneInfo) -> tuple[str, str, str, str]:
    if is_date(e.start):
        when = "all day"
    else:
        s, t = (views.sort_key(m, tz)[1].astimezone(tz) for m in (e.start, e.end))
        first = s.strftime("%H:%M" if s.date() == day else "%m-%d %H:%M")
        when = first if t == s else first + "-" + t.strftime("%H:%M" if t.date() in (day, s.date()) else "%m-%d %H:%M")
    details = e.details or {}
    flags = [("R", details.get("recurring")), ("I", details.get("invitation")), ("P", e.private),
             ("t", e.tentative), ("x", details.get("status") == "cancelled"), ("f", not e.busy)]
    title = e.title + (f" ({details['location']})" if details.get("location") else "")
    return (when, "".join(c for c, on in flags if on) or "-", f"#{details['id']}" if "id" in details else "-",
            title.replace("\n", " "))


def _when(start: Moment, end: Moment | None, tz: ZoneInfo) -> str:
    if is_date(start):
        days = ((end - start).days if isinstance(end, date) and is_date(end) else 1)  # type: ignore[operator]
        return f"{start.isoformat()} all day" + (f" ({days} days)" if days > 1 else "")
    first = short(start, tz)
    if end is None:
        return first
    last = short(end, tz)
    return f"{first}-{last[11:]}" if last[:10] == first[:10] else f"{first} - {last}"


def _flags(row: dict[str, Any]) -> str:
    flags = [("R", row["recurring"]), ("I", row["invitation"]), ("P", row["private"]),
             ("x", row["status"] == "cancelled"), ("f", not row["busy"])]
    return "".join(c for c, on in flags if on) or "-"


def cmd_todo(ctx: Context) -> int:
    with transaction(ctx.engine(), write=False) as uow:
        user = uow.users.by_login(ctx.args.user)
        items = uow.followups.todo(user.id or 0)
        d = DbDirectory(uow)
        rows = [views.summary_dict(f, d) for f in items]
        tz = zone(user.tz)
        now = datetime.now(tz)
        companies = [d.company(f.company_id).name if f.company_id else None for f in items]
    if ctx.json:
        emit_json(rows)
        return 0
    table([(short(f.deadline, tz), "overdue" if _overdue(f.deadline, now) else None,
            f.kind.value, f.id, f.title, r["type"]["name"], company)
           for f, r, company in zip(items, rows, companies, strict=True)],
          ["DEADLINE", "OVERDUE", "KIND", "ID", "TITLE", "TYPE", "COMPANY"])
    return 0


def _overdue(deadline: Moment | None, now: datetime) -> bool:
    if deadline is None:
        return False
    if is_date(deadline):
        return deadline < now.date()
    return views.sort_key(deadline, now.tzinfo)[1] < now  # type: ignore[arg-type]


def cmd_activities(ctx: Context) -> int:
    a = ctx.args
    with transaction(ctx.engine(), write=False) as uow:
        repos: dict[str, Any] = {"company": uow.companies, "person": uow.persons, "sale": uow.sales,
                                 "project": uow.projects}
        for name, repo in repos.items():
            value = getattr(a, name)
            if value is not None:
                lookup(repo.get, value, name, name)
        items = uow.followups.activities(company_id=a.company, person_id=a.person, sale_id=a.sale,
                                         project_id=a.project)
        d = DbDirectory(uow)
        rows = [views.summary_dict(f, d) for f in items]
    if ctx.json:
        emit_json(rows)
        return 0
    table([(short(f.start if f.start is not None else f.deadline), f.kind.value, r["status"], f.id, r["owner"],
            f.title + (" (recurring)" if f.recurrence else "")) for f, r in zip(items, rows, strict=True)],
          ["WHEN", "KIND", "STATUS", "ID", "OWNER", "TITLE"])
    return 0


def cmd_history(ctx: Context) -> int:
    """The change log of one follow-up: who created and changed it, when, from where."""
    f, changes = followups.history(ctx.engine(), ctx.args.id)
    rows = [{"at": c.at.isoformat(), "action": c.action, "actor": c.actor, "source": c.source} for c in changes]
    if ctx.json:
        emit_json({"id": ctx.args.id, "uid": changes[-1].uid if changes else (f.uid if f else None),
                   "title": f.title if f else None, "deleted": f is None, "changes": rows})
        return 0
    title = f"{f.title!r}" if f is not None else "(deleted)"
    print(f"follow-up {ctx.args.id} {title}")
    table([(c.at.strftime("%Y-%m-%d %H:%M:%S"), c.action, c.actor, c.source) for c in changes],
          ["WHEN (UTC)", "ACTION", "BY", "FROM"])
    return 0


def describe(c: conflicts.Clash, tz: ZoneInfo, shared: bool = True) -> str:
    """``#12 "Budget review" (anna) on room-fjord at 2026-12-01 10:00``: a clash in one line."""
    what = ("" if not shared else f" on {c.shared}" if c.shared_kind == conflicts.RESOURCE else f" for {c.shared}")
    title = c.other_title.replace('"', "'")
    return f'#{c.other_id} "{title}" ({c.other_owner}){what} at {short(c.start, tz)}'


def show_followup(ctx: Context, id: int) -> None:
    with transaction(ctx.engine(), write=False) as uow:
        f = uow.followups.get(id)
        d = DbDirectory(uow)
        data = views.followup_dict(f, d)
        tz = zone(d.user(f.owner_id).tz)
        clashes = conflicts.find(uow, f)
        data["conflicts"] = [views.clash_dict(c, tz) for c in clashes]
    if ctx.json:
        emit_json(data)
        return
    items: list[tuple[str, Any]] = [
        ("id", data["id"]), ("kind", data["kind"]), ("status", data["status"]), ("title", data["title"]),
        ("type", data["type"]["name"]), ("owner", data["owner"]["login"]),
    ]
    for key in ("start", "end", "deadline"):
        if data[key]:
            items.append((key, data[key]))
    if data["recurrence"]:
        rec = data["recurrence"]
        items.append(("repeats", rec["rule"] or "-"))
        for key in ("rdates", "exdates"):
            if rec[key]:
                items.append((key[:-1], ", ".join(rec[key])))
    for o in data["overrides"]:
        items.append(("occurrence", f"{o['recurrence_id']} -> {'cancelled' if o['cancelled'] else o['start']}"))
    for key in ("company", "person", "sale", "project"):
        if data[key]:
            items.append((key, f"{data[key]['name']} ({data[key]['id']})"))
    for p in data["participants"]:
        who = p["user"] or (f"person:{p['person_id']}" if p["person_id"] else p["email"])
        items.append(("participant", f"{who} {p['name'] or ''} [{p['partstat']}]".replace("  ", " ")))
    for r in data["resources"]:
        items.append(("resource", f"{r['login']} ({r['name']})"))
    for key in ("location", "conference", "agenda", "notes", "alarm_minutes", "priority"):
        if data[key] not in ("", None):
            items.append((key.replace("_", " "), data[key]))
    items += [("availability", "busy" if data["busy"] else "free"), ("private", data["private"])]
    if data["completed_at"]:
        items.append(("completed", data["completed_at"]))
    for name, value in data["fields"].items():
        items.append((name, value))
    items.append(("uid", data["uid"]))
    items += [("conflict", describe(c, tz)) for c in clashes]
    pairs(items)


def warn_clashes(ctx: Context, id: int) -> None:
    """One line on stderr per clash of the follow-up just written, and per
    resource that declined it; the write stands (exit code 0)."""
    with transaction(ctx.engine(), write=False) as uow:
        f = uow.followups.get(id)
        tz = zone(uow.users.get(f.owner_id).tz)
        clashes, refusals = conflicts.find(uow, f), conflicts.refusals(uow, f)
    for c in clashes:
        print(f"{PROG}: warning: clashes with {describe(c, tz)}", file=sys.stderr)
    for c in refusals:
        print(f"{PROG}: warning: {c.shared} declined the booking: it clashes with {describe(c, tz, shared=False)}",
              file=sys.stderr)


def done_with(ctx: Context, f: Followup, verb: str) -> int:
    """The follow-up just written: shown in full with --json, else ``follow-up ID VERB``."""
    assert f.id is not None
    if ctx.json:
        show_followup(ctx, f.id)
    else:
        print(f"follow-up {f.id} {verb}")
    return 0


def cmd_conflicts(ctx: Context) -> int:
    """Clashes in a window: everyone's, or those of one user or resource."""
    a = ctx.args
    with transaction(ctx.engine(), write=False) as uow:
        user_id = resource_id = None
        tz: ZoneInfo = a.tz or zone("UTC")
        if a.who:
            try:
                user = uow.users.by_login(a.who)
                user_id, tz = user.id, a.tz or zone(user.tz)
            except NotFound:
                try:
                    resource_id = uow.resources.by_login(a.who).id
                except NotFound:
                    raise NotFound(f"no user or resource {a.who!r} (see `followups user list` and "
                                   "`followups resource list`)") from None
        first = parse_day(a.first) if a.first else datetime.now(tz).date()
        last = parse_day(a.last) if a.last else first + timedelta(days=CONFLICT_DAYS - 1)
        if last < first:
            raise UsageError(f"--to {last} is before --from {first}")
        diary.check_day(first, f"--from {first}")
        diary.check_day(last, f"--to {last}")
        found = conflicts.in_window(uow, midnight(first, tz), midnight(last + timedelta(days=1), tz),
                                    user_id, resource_id)
    if ctx.json:
        emit_json([views.overlap_dict(o, tz) for o in found])
        return 0
    table([(_when(o.start, o.end, tz), f"#{o.first.id} {o.first.title} ({o.first_owner})",
            f"#{o.second.id} {o.second.title} ({o.second_owner})", ", ".join(o.users + o.resources))
           for o in found],
          ["WHEN", "FOLLOW-UP", "CLASHES WITH", "SHARED"])
    return 0


def register(sub: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("diary", help="a user's meetings and calls for a day, week or month; several side by side",
                       description="The CRM's Day, Week and Month views: the user's meetings and calls (owned, "
                                   "or invited and not declined), recurring ones expanded, in the user's time "
                                   "zone. Default: this week. Flags: R recurring, I invitation, P private, "
                                   "x cancelled, f free. With --overview, the Overview: several users' diaries "
                                   "for a day or a week, day by day, in the viewer's time zone, to plan a "
                                   "meeting; a private follow-up is shown in full only to its owner and "
                                   "participants, to any other viewer as a busy block titled 'Private' "
                                   "(flag t: invited, not yet accepted).")
    p.add_argument("user", nargs="?", help="login (or use --overview)")
    p.add_argument("--overview", metavar="USER[,USER...]",
                   help=f"the Overview of these users (at most {diary.MAX_USERS}, logins separated by commas)")
    p.add_argument("--as", dest="viewer", metavar="VIEWER",
                   help="with --overview: whose eyes to see it with, a login (default: the first user listed)")
    when = p.add_mutually_exclusive_group()
    when.add_argument("--day", metavar="DATE", help="one day, YYYY-MM-DD")
    when.add_argument("--week", metavar="YYYY-Www", help="an ISO week, e.g. 2025-W07")
    when.add_argument("--month", metavar="YYYY-MM", help="a calendar month")
    add_json(p)
    p.set_defaults(handler=cmd_diary)

    p = sub.add_parser("todo", help="a user's open to-dos and planned calls",
                       description="The to-do list: open to-dos and planned calls, by deadline.")
    p.add_argument("user", help="login")
    add_json(p)
    p.set_defaults(handler=cmd_todo)

    p = sub.add_parser("activities", help="every follow-up of a company, person, sale or project",
                       description="The Activities list of a record: all its follow-ups, to-dos included, "
                                   "open and done.")
    which = p.add_mutually_exclusive_group(required=True)
    for name in ("company", "person", "sale", "project"):
        which.add_argument(f"--{name}", type=record_id, metavar="ID", help=f"the {name}'s id")
    add_json(p)
    p.set_defaults(handler=cmd_activities)

    p = sub.add_parser("conflicts", help="busy follow-ups that overlap and share a person or a resource",
                       description="Clashes in a window: two busy, not cancelled meetings or calls whose times "
                                   "overlap (recurring ones occurrence by occurrence) and that share a person "
                                   "(the owner, or a participant who has not declined) or a resource (that has "
                                   "not declined them). Each clash is listed once: when, the two follow-ups and "
                                   "what they share. Default: everyone's, from today for 30 days, in the user's "
                                   "time zone (else UTC).")
    p.add_argument("who", nargs="?", metavar="USER|RESOURCE",
                   help="only the clashes over this user's time or this resource (a login)")
    p.add_argument("--from", dest="first", metavar="DATE", help="first day, YYYY-MM-DD (default: today)")
    p.add_argument("--to", dest="last", metavar="DATE",
                   help=f"last day included, YYYY-MM-DD (default: {CONFLICT_DAYS} days from --from)")
    p.add_argument("--tz", type=tz_option, metavar="ZONE", help="IANA time zone of the days and the times shown")
    add_json(p)
    p.set_defaults(handler=cmd_conflicts)

    p = sub.add_parser("history", help="who created and changed a follow-up, and when",
                       description="The change log of one follow-up, oldest first: every create, update and "
                                   "delete, with the time (UTC), who made it (a CRM user, a client's login, or "
                                   "'system') and from where (crm or client). Works after the follow-up was "
                                   "deleted.")
    p.add_argument("id", type=record_id, help="the follow-up's id")
    add_json(p)
    p.set_defaults(handler=cmd_history)
