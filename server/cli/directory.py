"""``followups user|resource|company|person|sale|project|type|field``: the CRM's directory."""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable
from typing import Any

from server.cli.common import (
    Context,
    UsageError,
    add_json,
    emit_json,
    lookup,
    positive_int,
    record_id,
    table,
    tz_option,
)
from server.services import followups as services
from server.services import views
from server.services.transaction import transaction
from store.domain import (
    Company,
    ConflictPolicy,
    FieldDef,
    FieldType,
    FollowupType,
    Kind,
    Person,
    Project,
    Resource,
    ResourceKind,
    Sale,
    User,
)
from store.uow import UnitOfWork

Handler = Callable[[Context], int]



def _exists(ctx: Context, look_up: Callable[[UnitOfWork], Any]) -> bool:
    """Whether ``look_up`` finds its record (a by-login look-up, not a scan)."""
    with transaction(ctx.engine(), write=False) as uow:
        try:
            look_up(uow)
        except LookupError:
            return False
    return True

def _report_new(ctx: Context, record: Any, as_dict: Callable[[Any], dict[str, Any]]) -> int:
    if ctx.json:
        emit_json(as_dict(record))
    else:
        print(record.id)
    return 0


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
    return _report_new(ctx, user, views.user_dict)


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


def resource_add(ctx: Context) -> int:
    a = ctx.args
    resource = Resource(login=a.login, name=a.name or a.login, kind=ResourceKind(a.kind), email=a.email,
                        on_conflict=ConflictPolicy(a.on_conflict or ConflictPolicy.ALLOW.value))
    if _exists(ctx, lambda uow: uow.resources.by_login(resource.login)):
        raise UsageError(f"resource {resource.login!r} exists already (see `followups resource list`)")
    services.add_resource(ctx.engine(), resource)
    return _report_new(ctx, resource, views.resource_dict)


def resource_list(ctx: Context) -> int:
    with transaction(ctx.engine(), write=False) as uow:
        resources = uow.resources.list()
    if ctx.json:
        emit_json([views.resource_dict(r) for r in resources])
    else:
        table([(r.id, r.login, r.name, r.kind.value, r.email, r.on_conflict.value) for r in resources],
              ["ID", "LOGIN", "NAME", "KIND", "E-MAIL", "ON CONFLICT"])
    return 0


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
        emit_json(views.resource_dict(resource))
    else:
        print(f"updated resource {resource.login}")
    return 0


# -- companies, persons, sales, projects --------------------------------------------------------


def _add_record(ctx: Context, repo: str, record: Any, as_dict: Callable[[Any], dict[str, Any]]) -> int:
    """Directory records that no calendar object shows on their own: written
    directly in one unit of work (there is nothing to project yet)."""
    with transaction(ctx.engine()) as uow:
        getattr(uow, repo).add(record)
        uow.commit()
    return _report_new(ctx, record, as_dict)


def _check_company(ctx: Context, company: int | None) -> None:
    if company is None:
        return
    with transaction(ctx.engine(), write=False) as uow:
        lookup(lambda t: uow.companies.get(int(t)), str(company), "company", "company")


def company_add(ctx: Context) -> int:
    return _add_record(ctx, "companies", Company(name=_name(ctx.args.name)), views.company_dict)


def person_add(ctx: Context) -> int:
    a = ctx.args
    _check_company(ctx, a.company)
    person = Person(name=_name(a.name), company_id=a.company, email=a.email, phone=a.phone)
    return _add_record(ctx, "persons", person, views.person_dict)


def sale_add(ctx: Context) -> int:
    _check_company(ctx, ctx.args.company)
    return _add_record(ctx, "sales", Sale(name=_name(ctx.args.name), company_id=ctx.args.company), views.sale_dict)


def project_add(ctx: Context) -> int:
    return _add_record(ctx, "projects", Project(name=_name(ctx.args.name)), views.project_dict)


def _name(text: str) -> str:
    if not text.strip():
        raise UsageError("the name is empty")
    return text.strip()


def _lister(repo: str, as_dict: Callable[[Any], dict[str, Any]], headers: list[str],
            row: Callable[[Any], tuple[Any, ...]]) -> Handler:
    def handler(ctx: Context) -> int:
        with transaction(ctx.engine(), write=False) as uow:
            records = getattr(uow, repo).list()
            company = getattr(ctx.args, "company", None)
            if company is not None:
                lookup(lambda t: uow.companies.get(int(t)), str(company), "company", "company")
                records = [r for r in records if r.company_id == company]
        if ctx.json:
            emit_json([as_dict(r) for r in records])
        else:
            table([row(r) for r in records], headers)
        return 0

    return handler


company_list = _lister("companies", views.company_dict, ["ID", "NAME"], lambda c: (c.id, c.name))
person_list = _lister("persons", views.person_dict, ["ID", "NAME", "COMPANY", "E-MAIL", "PHONE"],
                      lambda p: (p.id, p.name, p.company_id, p.email, p.phone))
sale_list = _lister("sales", views.sale_dict, ["ID", "NAME", "COMPANY"], lambda s: (s.id, s.name, s.company_id))
project_list = _lister("projects", views.project_dict, ["ID", "NAME"], lambda p: (p.id, p.name))
type_list = _lister("types", views.type_dict, ["ID", "NAME", "KIND", "DEFAULT"],
                    lambda t: (t.id, t.name, t.kind.value, "busy" if t.busy else "free"))
field_list = _lister("fields", views.field_dict, ["ID", "NAME", "TYPE", "VALUES"],
                     lambda d: (d.id, d.name, d.type.value, ", ".join(d.choices) or None))


def type_add(ctx: Context) -> int:
    a = ctx.args
    ftype = FollowupType(name=_name(a.name), kind=Kind(a.kind), busy=not a.free)
    return _add_record(ctx, "types", ftype, views.type_dict)


def field_add(ctx: Context) -> int:
    a = ctx.args
    values = [v.strip() for item in a.values or [] for v in item.split(",") if v.strip()]
    if values and a.type != FieldType.LIST.value:
        raise UsageError("--value is only for list fields (--type list)")
    definition = FieldDef(name=_name(a.name), type=FieldType(a.type), choices=values)
    with transaction(ctx.engine(), write=False) as uow:
        if any(d.name.casefold() == definition.name.casefold() for d in uow.fields.list()):
            raise UsageError(f"a custom field called {definition.name!r} exists already (see `followups field list`)")
    return _add_record(ctx, "fields", definition, views.field_dict)


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
    p = resources.add_parser("list", help="list resources", description="List resources.")
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

    _simple(sub, parser_class, "company", "companies", company_add, company_list)
    person_parsers = _simple(sub, parser_class, "person", "contact persons", person_add, person_list)
    _simple_company_options(person_parsers)
    person_parsers[0].add_argument("--email", help="e-mail address")
    person_parsers[0].add_argument("--phone", help="phone number")
    _simple_company_options(_simple(sub, parser_class, "sale", "sales", sale_add, sale_list))
    _simple(sub, parser_class, "project", "projects", project_add, project_list)

    add, _ = _simple(sub, parser_class, "type", "follow-up types", type_add, type_list)
    add.add_argument("--kind", required=True, choices=[k.value for k in Kind], help="the kind this type is for")
    availability = add.add_mutually_exclusive_group()
    availability.add_argument("--busy", action="store_true", help="new follow-ups of this type are busy (default)")
    availability.add_argument("--free", action="store_true", help="new follow-ups of this type are free")

    add, _ = _simple(sub, parser_class, "field", "custom fields on follow-ups", field_add, field_list)
    add.add_argument("--type", choices=[t.value for t in FieldType], default=FieldType.TEXT.value,
                     help="value type (default text)")
    add.add_argument("--value", dest="values", action="append", metavar="VALUE",
                     help="a choice of a list field (repeatable, or comma-separated)")


def _on_conflict_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--on-conflict", choices=[c.value for c in ConflictPolicy], metavar="allow|decline",
                   help="when a booking clashes with another: allow keeps both and reports the clash "
                        "(the default for a new resource); decline declines the later booking "
                        "(PARTSTAT=DECLINED), which then does not block the resource")


def _user_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tz", type=tz_option, help="IANA time zone, e.g. Europe/Oslo (default UTC)")
    p.add_argument("--meeting-minutes", type=positive_int, metavar="N", help="default length of a new meeting")
    p.add_argument("--call-minutes", type=positive_int, metavar="N", help="default length of a call")


def _simple(sub: Any, parser_class: type[argparse.ArgumentParser], noun: str, plural: str,
            add: Handler, listing: Handler) -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    top = sub.add_parser(noun, help=plural, description=f"Manage {plural}.")
    actions = top.add_subparsers(dest="action", metavar="ACTION", required=True, parser_class=parser_class)
    p_add = actions.add_parser("add", help=f"add a {noun}", description=f"Add a {noun}; prints its id.")
    p_add.add_argument("name")
    add_json(p_add)
    p_add.set_defaults(handler=add)
    p_list = actions.add_parser("list", help=f"list {plural}", description=f"List {plural}.")
    add_json(p_list)
    p_list.set_defaults(handler=listing)
    return p_add, p_list


def _simple_company_options(parsers: tuple[argparse.ArgumentParser, argparse.ArgumentParser]) -> None:
    p_add, p_list = parsers
    p_add.add_argument("--company", type=record_id, metavar="ID", help="the company it belongs to")
    p_list.add_argument("--company", type=record_id, metavar="ID", help="only those of this company")
