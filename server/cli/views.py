"""``followups diary|todo|activities``: the CRM's own views of follow-ups."""

from __future__ import annotations

import argparse
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from server.cli.common import (
    Context,
    UsageError,
    add_json,
    emit_json,
    local_midnight,
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
from server.services import conflicts, followups, views
from server.services.directory import DbDirectory
from server.services.transaction import transaction
from store.domain import Moment, is_date, zone
from store.errors import NotFound
from store.moments import FLOATING_SLACK
from store.uow import UnitOfWork

DIARY_LIMIT = 10000
CONFLICT_DAYS = 30


def window(a: argparse.Namespace, today: date) -> tuple[str, date, date]:
    """The view's name and its first and last-plus-one day."""
    if a.day:
        first = parse_day(a.day)
        return "day", first, first + timedelta(days=1)
    if a.month:
        first = parse_month(a.month)
        return "month", first, month_end(first)
    first = parse_week(a.week) if a.week else today - timedelta(days=today.weekday())
    return "week", first, first + timedelta(days=7)


def _naive_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


def diary_entries(uow: UnitOfWork, login: str, a: argparse.Namespace) -> tuple[ZoneInfo, list[Any]]:
    """The user's meetings and calls in the window, recurring ones expanded,
    ordered by start as seen in the user's zone."""
    import mapping

    user = uow.users.by_login(login)
    tz = zone(user.tz)
    _, first, last = window(a, datetime.now(tz).date())
    start, end = local_midnight(first, tz), local_midnight(last, tz)
    # Dates and floating times are indexed in their owner's zone, which may differ from this user's.
    candidates = uow.followups.diary(user.id or 0, _naive_utc(start - FLOATING_SLACK), _naive_utc(end + FLOATING_SLACK))
    entries = []
    for f in candidates:
        for instance in mapping.expand(f, start, end, limit=DIARY_LIMIT):
            if _overlaps(instance.start, instance.end, start, end, tz):
                entries.append(instance)
    entries.sort(key=lambda i: (views.sort_key(i.start, tz), i.followup.id))
    return tz, entries


def _overlaps(s: Moment, e: Moment | None, start: datetime, end: datetime, tz: ZoneInfo) -> bool:
    a = views.sort_key(s, tz)[1]
    b = views.sort_key(e, tz)[1] if e is not None else a
    if b == a:
        return start <= a < end
    return a < end and b > start


def cmd_diary(ctx: Context) -> int:
    with transaction(ctx.engine(), write=False) as uow:
        tz, entries = diary_entries(uow, ctx.args.user, ctx.args)
        d = DbDirectory(uow)
        rows = [views.instance_dict(i, d, tz) for i in entries]
    if ctx.json:
        emit_json(rows)
        return 0
    table([(_when(i.start, i.end, tz), r["kind"], r["id"], _flags(r), r["title"],
            r["owner"] if r["owner"] != ctx.args.user else None, r["location"] or None)
           for i, r in zip(entries, rows, strict=True)],
          ["WHEN", "KIND", "ID", "FLAGS", "TITLE", "OWNER", "LOCATION"])
    return 0


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
          ["DEADLINE", "", "KIND", "ID", "TITLE", "TYPE", "COMPANY"])
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
        found = conflicts.in_window(uow, local_midnight(first, tz), local_midnight(last + timedelta(days=1), tz),
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
    p = sub.add_parser("diary", help="a user's meetings and calls for a day, week or month",
                       description="The CRM's Day, Week and Month views: the user's meetings and calls (owned, "
                                   "or invited and not declined), recurring ones expanded, in the user's time "
                                   "zone. Default: this week. Flags: R recurring, I invitation, P private, "
                                   "x cancelled, f free.")
    p.add_argument("user", help="login")
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
