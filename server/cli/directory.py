"""``followups user|resource``: who and what has a calendar, the CRM's users and the
rooms and equipment that meetings book (the records follow-ups refer to are in
:mod:`server.cli.records`)."""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable
from typing import Any

from server.cli.common import Context, UsageError, add_json, emit_json, positive_int, table, tz_option
from server.cli.records import DICTS, all_option, lister, report_new, retire
from server.services import followups as services
from server.services import records, views
from server.services.transaction import transaction
from store.domain import ConflictPolicy, Resource, ResourceKind, User
from store.uow import UnitOfWork


def _exists(ctx: Context, look_up: Callable[[UnitOfWork], Any]) -> bool:
    """Whether ``look_up`` finds its record (a by-login look-up, not a scan)."""
    with transaction(ctx.engine(), write=False) as uow:
        try:
            look_up(uow)
        except LookupError:
            return False
    return True


# -- users -------------------------------------------------------------------------------


def user_add(ctx: Context) -> int:
    a = ctx.args
    user = User(login=a.login, name=a.name, email=a.email, tz=a.tz.key if a.tz else "UTC")
    if a.meeting_minutes:
        user.meeting_minutes = a.meeting_minutes
    if a.call_minutes:
        user.call_minutes = a.call_minutes
    if _exists(ctx, lambda uow: uow.users.by_login(user.login)):
        raise UsageError(f"user {user.login!r} exists already (see `followups user list`)")
    services.add_user(ctx.engine(), user)
    return report_new(ctx, user, views.user_dict)


def user_list(ctx: Context) -> int:
    with transaction(ctx.engine(), write=False) as uow:
        users = uow.users.list()
    if ctx.json:
        emit_json([views.user_dict(u) for u in users])
    else:
        table([(u.id, u.login, u.name, u.email, u.tz, u.meeting_minutes, u.call_minutes,
                bool(u.password_hash)) for u in users],
              ["ID", "LOGIN", "NAME", "E-MAIL", "TIME ZONE", "MEETING MIN", "CALL MIN", "PASSWORD"])
    return 0


def user_update(ctx: Context) -> int:
    a = ctx.args
    changes = {"name": a.name, "email": a.email, "tz": a.tz.key if a.tz else None,
               "meeting_minutes": a.meeting_minutes, "call_minutes": a.call_minutes}
    changes = {k: v for k, v in changes.items() if v is not None}
    if not changes:
        raise UsageError("nothing to change: give --name, --email, --tz, --meeting-minutes or --call-minutes")

    def change(user: User) -> None:
        for key, value in changes.items():
            setattr(user, key, value)

    user = services.update_user(ctx.engine(), a.login, change)
    if ctx.json:
        emit_json(views.user_dict(user))
    else:
        print(f"updated user {user.login}")
    return 0


def user_remove(ctx: Context) -> int:
    try:
        outcome = records.remove_user(ctx.engine(), ctx.args.login)
    except records.InUse as exc:
        steps = {"follow-up": "give their follow-ups to another user (`followups update ID --owner LOGIN`)",
                 "invitation": "take them off the invitations (`followups update ID --participant ...`)"}
        raise UsageError(f"{exc}; {' and '.join(steps[u.what] for u in exc.uses)}, or delete those follow-ups "
                         "first (users cannot be archived)") from None
    if ctx.json:
        emit_json({"action": "removed", "record": "user", "id": outcome.record.id, "login": outcome.record.login,
                   "grants_removed": outcome.grants})
    else:
        grants = f" and {outcome.grants} grant{'s' if outcome.grants != 1 else ''}" if outcome.grants else ""
        print(f"removed {outcome.description}{grants}")
    return 0


def read_password(login: str) -> str:
    """The new password: the first line of stdin when it is not a terminal
    (so scripts can pipe it), else typed twice without echo."""
    if not sys.stdin.isatty():
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise UsageError("no password on stdin: pipe it in, e.g. `echo secret | followups user passwd LOGIN`")
        return password
    first = getpass.getpass(f"New password for {login}: ")
    if not first:
        raise UsageError("the password is empty")
    if getpass.getpass("Again: ") != first:
        raise UsageError("the passwords differ; nothing was changed")
    return first


def user_passwd(ctx: Context) -> int:
    engine = ctx.engine()
    with transaction(engine, write=False) as uow:
        uow.users.by_login(ctx.args.login)
    services.set_password(engine, ctx.args.login, read_password(ctx.args.login))
    print(f"password set for {ctx.args.login}", file=sys.stderr)
    return 0


# -- resources -----------------------------------------------------------------------------


resource_dict = DICTS["resource"]


def resource_add(ctx: Context) -> int:
    a = ctx.args
    resource = Resource(login=a.login, name=a.name or a.login, kind=ResourceKind(a.kind), email=a.email,
                        on_conflict=ConflictPolicy(a.on_conflict or ConflictPolicy.ALLOW.value))
    if _exists(ctx, lambda uow: uow.resources.by_login(resource.login)):
        raise UsageError(f"resource {resource.login!r} exists already (see `followups resource list`)")
    services.add_resource(ctx.engine(), resource)
    return report_new(ctx, resource, resource_dict)


resource_list = lister("resource", ["ID", "LOGIN", "NAME", "KIND", "E-MAIL", "ON CONFLICT"],
                       lambda r: (r.id, r.login, r.name, r.kind.value, r.email, r.on_conflict.value))


def resource_update(ctx: Context) -> int:
    a = ctx.args
    if a.name is not None and not a.name.strip():
        raise UsageError("the name is empty")
    changes: dict[str, Any] = {"name": a.name.strip() if a.name else None,
                               "on_conflict": ConflictPolicy(a.on_conflict) if a.on_conflict else None}
    changes = {k: v for k, v in changes.items() if v is not None}
    if a.email is not None:
        changes["email"] = a.email.strip() or None
    if not changes:
        raise UsageError("nothing to change: give --name, --email or --on-conflict")

    def change(resource: Resource) -> None:
        for key, value in changes.items():
            setattr(resource, key, value)

    resource = services.update_resource(ctx.engine(), a.login, change)
    if ctx.json:
        emit_json(resource_dict(resource))
    else:
        print(f"updated resource {resource.login}")
    return 0


# -- the parser -------------------------------------------------------------------------------

def register(sub: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    """Add the directory commands to the top-level subparsers ``sub``."""
    user = sub.add_parser("user", help="CRM users (calendar owners)", description="Manage CRM users.")
    users = user.add_subparsers(dest="action", metavar="ACTION", required=True, parser_class=parser_class)
    p = users.add_parser("add", help="add a user", description="Add a user; set a password with `user passwd`.")
    p.add_argument("login")
    p.add_argument("--name", required=True, help="full name")
    p.add_argument("--email", required=True, help="e-mail address (identifies the user in invitations)")
    _user_options(p)
    add_json(p)
    p.set_defaults(handler=user_add)
    p = users.add_parser("list", help="list users", description="List users.")
    add_json(p)
    p.set_defaults(handler=user_list)
    p = users.add_parser("passwd", help="set a user's password",
                         description="Set a user's password: read from stdin when it is not a terminal "
                                     "(scripts: `echo secret | followups user passwd anna`), else asked twice.")
    p.add_argument("login")
    p.set_defaults(handler=user_passwd)
    p = users.add_parser("update", help="change a user's name, e-mail, zone or default durations",
                         description="Change a user's details; only the options given change.")
    p.add_argument("login")
    p.add_argument("--name", help="full name")
    p.add_argument("--email", help="e-mail address")
    _user_options(p)
    add_json(p)
    p.set_defaults(handler=user_update)
    p = users.add_parser("remove", help="remove a user who owns and is invited to nothing",
                         description="Remove a user. Refused while they own follow-ups or are invited to any "
                                     "(the error names them: give them to another user with `followups update "
                                     "ID --owner LOGIN`, or delete them). The grants that name the user go "
                                     "with them. Users cannot be archived.")
    p.add_argument("login")
    add_json(p)
    p.set_defaults(handler=user_remove)

    resource = sub.add_parser("resource", help="rooms and equipment", description="Manage bookable resources.")
    resources = resource.add_subparsers(dest="action", metavar="ACTION", required=True, parser_class=parser_class)
    p = resources.add_parser("add", help="add a room or piece of equipment",
                             description="Add a room or piece of equipment that meetings can book.")
    p.add_argument("login", help="short name, e.g. room-fjord (its calendar's path)")
    p.add_argument("--name", help="display name (default: the login)")
    p.add_argument("--kind", choices=[k.value for k in ResourceKind], default=ResourceKind.ROOM.value,
                   help="room (default) or equipment")
    p.add_argument("--email", help="its address in invitations, e.g. room-fjord@example.com")
    _on_conflict_option(p)
    add_json(p)
    p.set_defaults(handler=resource_add)
    p = resources.add_parser("list", help="list resources", description="List resources (not archived ones).")
    all_option(p, "resources")
    add_json(p)
    p.set_defaults(handler=resource_list)
    p = resources.add_parser("update", help="change a resource's name, e-mail or conflict policy",
                             description="Change a resource; only the options given change. A new --on-conflict "
                                         "applies to its existing bookings at once: with decline, of two clashing "
                                         "bookings (within two years) the later one is declined; with allow, "
                                         "every booking it declined is accepted again.")
    p.add_argument("login")
    p.add_argument("--name", help="display name")
    p.add_argument("--email", help="its address in invitations ('' for none)")
    _on_conflict_option(p)
    add_json(p)
    p.set_defaults(handler=resource_update)
    retire(resources, "resource", "LOGIN", "the resource's login")


def _on_conflict_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--on-conflict", choices=[c.value for c in ConflictPolicy], metavar="allow|decline",
                   help="when a booking clashes with another: allow keeps both and reports the clash "
                        "(the default for a new resource); decline declines the later booking "
                        "(PARTSTAT=DECLINED), which then does not block the resource")


def _user_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tz", type=tz_option, help="IANA time zone, e.g. Europe/Oslo (default UTC)")
    p.add_argument("--meeting-minutes", type=positive_int, metavar="N", help="default length of a new meeting")
    p.add_argument("--call-minutes", type=positive_int, metavar="N", help="default length of a call")
