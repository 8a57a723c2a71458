"""``followups company|person|sale|project|type|field``: the records follow-ups refer
to, and the ``list``, ``update``, ``remove`` (or archive) and ``unarchive`` commands they
share (resources, in :mod:`server.cli.directory`, use them too)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from server.cli.common import Context, UsageError, add_json, emit_json, lookup, record_id, table
from server.services import records, views
from server.services.transaction import transaction
from store.domain import Company, FieldDef, FieldType, FollowupType, Kind, Person, Project, Sale

Handler = Callable[[Context], int]


def report_new(ctx: Context, record: Any, as_dict: Callable[[Any], dict[str, Any]]) -> int:
    """What ``NOUN add`` prints: the new record's id, or with --json the record."""
    if ctx.json:
        emit_json(as_dict(record))
    else:
        print(record.id)
    return 0


def _archived_too(as_dict: Callable[[Any], dict[str, Any]]) -> Callable[[Any], dict[str, Any]]:
    """The JSON view of an archivable record, with its ``archived`` flag."""
    return lambda record: {**as_dict(record), "archived": record.archived}


DICTS = {"company": _archived_too(views.company_dict), "person": _archived_too(views.person_dict),
         "sale": _archived_too(views.sale_dict), "project": _archived_too(views.project_dict),
         "type": _archived_too(views.type_dict), "field": _archived_too(views.field_dict),
         "resource": _archived_too(views.resource_dict)}


def _add_record(ctx: Context, repo: str, record: Any, as_dict: Callable[[Any], dict[str, Any]]) -> int:
    """Directory records that no calendar object shows on their own: written
    directly in one unit of work (there is nothing to project yet)."""
    with transaction(ctx.engine()) as uow:
        getattr(uow, repo).add(record)
        uow.commit()
    return report_new(ctx, record, as_dict)


def _check_company(ctx: Context, company: int | None) -> None:
    if company is None:
        return
    with transaction(ctx.engine(), write=False) as uow:
        lookup(lambda t: uow.companies.get(int(t)), str(company), "company", "company")


def company_add(ctx: Context) -> int:
    return _add_record(ctx, "companies", Company(name=_name(ctx.args.name)), DICTS["company"])


def person_add(ctx: Context) -> int:
    a = ctx.args
    _check_company(ctx, a.company)
    person = Person(name=_name(a.name), company_id=a.company, email=a.email, phone=a.phone)
    return _add_record(ctx, "persons", person, DICTS["person"])


def sale_add(ctx: Context) -> int:
    _check_company(ctx, ctx.args.company)
    return _add_record(ctx, "sales", Sale(name=_name(ctx.args.name), company_id=ctx.args.company), DICTS["sale"])


def project_add(ctx: Context) -> int:
    return _add_record(ctx, "projects", Project(name=_name(ctx.args.name)), DICTS["project"])


def _name(text: str) -> str:
    if not text.strip():
        raise UsageError("the name is empty")
    return text.strip()


def lister(noun: str, headers: list[str], row: Callable[[Any], tuple[Any, ...]]) -> Handler:
    """``NOUN list``: archived records only with ``--all`` (then in a column of their own)."""
    as_dict = DICTS[noun]

    def handler(ctx: Context) -> int:
        with transaction(ctx.engine(), write=False) as uow:
            found = getattr(uow, records.REPOSITORIES[noun]).list()
            company = getattr(ctx.args, "company", None)
            if company is not None:
                lookup(lambda t: uow.companies.get(int(t)), str(company), "company", "company")
                found = [r for r in found if r.company_id == company]
        everything = bool(getattr(ctx.args, "all", False))
        found = [r for r in found if everything or not r.archived]
        if ctx.json:
            emit_json([as_dict(r) for r in found])
        elif everything:
            table([(*row(r), r.archived) for r in found], [*headers, "ARCHIVED"])
        else:
            table([row(r) for r in found], headers)
        return 0

    return handler


company_list = lister("company", ["ID", "NAME"], lambda c: (c.id, c.name))
person_list = lister("person", ["ID", "NAME", "COMPANY", "E-MAIL", "PHONE"],
                      lambda p: (p.id, p.name, p.company_id, p.email, p.phone))
sale_list = lister("sale", ["ID", "NAME", "COMPANY"], lambda s: (s.id, s.name, s.company_id))
project_list = lister("project", ["ID", "NAME"], lambda p: (p.id, p.name))
type_list = lister("type", ["ID", "NAME", "KIND", "DEFAULT"],
                    lambda t: (t.id, t.name, t.kind.value, "busy" if t.busy else "free"))
field_list = lister("field", ["ID", "NAME", "TYPE", "VALUES"],
                     lambda d: (d.id, d.name, d.type.value, ", ".join(d.choices) or None))


def type_add(ctx: Context) -> int:
    a = ctx.args
    ftype = FollowupType(name=_name(a.name), kind=Kind(a.kind), busy=not a.free)
    return _add_record(ctx, "types", ftype, DICTS["type"])


def _values(items: list[str] | None) -> list[str]:
    return [v.strip() for item in items or [] for v in item.split(",") if v.strip()]


def field_add(ctx: Context) -> int:
    a = ctx.args
    values = _values(a.values)
    if values and a.type != FieldType.LIST.value:
        raise UsageError("--value is only for list fields (--type list)")
    definition = FieldDef(name=_name(a.name), type=FieldType(a.type), choices=values)
    with transaction(ctx.engine(), write=False) as uow:
        if any(d.name.casefold() == definition.name.casefold() for d in uow.fields.list()):
            raise UsageError(f"a custom field called {definition.name!r} exists already (see `followups field list`)")
    return _add_record(ctx, "fields", definition, DICTS["field"])


# -- update, remove, unarchive -----------------------------------------------------------------

Change = Callable[[Any], None]


def _set(**values: Any) -> Change | None:
    """A change setting the attributes given (not None); None when none is."""
    given = {k: v for k, v in values.items() if v is not None}
    if not given:
        return None

    def change(record: Any) -> None:
        for key, value in given.items():
            setattr(record, key, value)

    return change


def _link_change(a: argparse.Namespace) -> Change | None:
    """A person's or a sale's: the name, the company (--no-company: none), and a person's
    e-mail and phone ('' clears them)."""
    given = {"name": a.name, "company_id": 0 if a.no_company else a.company,
             "email": getattr(a, "email", None), "phone": getattr(a, "phone", None)}
    given = {k: v for k, v in given.items() if v is not None}
    if not given:
        return None

    def change(record: Any) -> None:
        for key, value in given.items():
            cleared = (value.strip() if isinstance(value, str) else value) or None
            setattr(record, key, value if key == "name" else cleared)

    return change


def _type_change(a: argparse.Namespace) -> Change | None:
    return _set(name=a.name, busy=True if a.busy else False if a.free else None)


def _field_change(a: argparse.Namespace) -> Change | None:
    values = _values(a.values) if a.values is not None else None
    if a.name is None and a.type is None and values is None:
        return None

    def change(d: FieldDef) -> None:
        if a.name is not None:
            d.name = a.name
        if a.type is not None:
            d.type = FieldType(a.type)
            if d.type is not FieldType.LIST:
                d.choices = []
        if values is not None:
            if d.type is not FieldType.LIST:
                raise UsageError(f"--value is only for list fields; field {d.name!r} is a {d.type.value} field")
            d.choices = values

    return change


CHANGES: dict[str, tuple[Callable[[argparse.Namespace], Change | None], str]] = {
    "company": (lambda a: _set(name=a.name), "--name"),
    "project": (lambda a: _set(name=a.name), "--name"),
    "person": (_link_change, "--name, --company, --no-company, --email or --phone"),
    "sale": (_link_change, "--name, --company or --no-company"),
    "type": (_type_change, "--name, --busy or --free"),
    "field": (_field_change, "--name, --type or --value"),
}


def _updater(noun: str) -> Handler:
    def handler(ctx: Context) -> int:
        build, options = CHANGES[noun]
        change = build(ctx.args)
        if change is None:
            raise UsageError(f"nothing to change: give {options}")
        outcome = records.update(ctx.engine(), noun, ctx.args.record, change)
        if ctx.json:
            emit_json(DICTS[noun](outcome.record))
        else:
            print(f"updated {outcome.description}")
        return 0

    return handler


def _remover(noun: str) -> Handler:
    def handler(ctx: Context) -> int:
        if ctx.args.archive:
            outcome, action = records.archive(ctx.engine(), noun, ctx.args.record), "archived"
        else:
            try:
                outcome, action = records.remove(ctx.engine(), noun, ctx.args.record), "removed"
            except records.InUse as exc:
                raise UsageError(f"{exc}; update or remove them first, or use --archive") from None
        if ctx.json:
            emit_json({"action": action, "record": noun, **DICTS[noun](outcome.record)})
        else:
            print(f"{action} {outcome.description}")
        return 0

    return handler


def _unarchiver(noun: str) -> Handler:
    def handler(ctx: Context) -> int:
        outcome = records.archive(ctx.engine(), noun, ctx.args.record, archived=False)
        if ctx.json:
            emit_json(DICTS[noun](outcome.record))
        else:
            print(f"unarchived {outcome.description}")
        return 0

    return handler


REFERRERS = {"company": "follow-ups, persons or sales", "person": "follow-ups (as their contact or a participant)",
             "sale": "follow-ups", "project": "follow-ups", "type": "follow-ups",
             "field": "follow-ups (with a value in it)", "resource": "follow-ups (bookings)"}


def register(sub: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    """Add the company, person, sale, project, type and field commands to the top-level subparsers ``sub``."""
    _simple(sub, parser_class, "company", "companies", company_add, company_list)

    person = _simple(sub, parser_class, "person", "contact persons", person_add, person_list)
    _company_options(person)
    person["add"].add_argument("--email", help="e-mail address")
    person["add"].add_argument("--phone", help="phone number")
    person["update"].add_argument("--email", help="e-mail address ('' for none)")
    person["update"].add_argument("--phone", help="phone number ('' for none)")

    _company_options(_simple(sub, parser_class, "sale", "sales", sale_add, sale_list))
    _simple(sub, parser_class, "project", "projects", project_add, project_list)

    ftype = _simple(sub, parser_class, "type", "follow-up types", type_add, type_list)
    ftype["add"].add_argument("--kind", required=True, choices=[k.value for k in Kind],
                              help="the kind this type is for")
    for name in ("add", "update"):
        availability = ftype[name].add_mutually_exclusive_group()
        availability.add_argument("--busy", action="store_true",
                                  help="new follow-ups of this type are busy" + (" (default)" if name == "add" else ""))
        availability.add_argument("--free", action="store_true", help="new follow-ups of this type are free")

    field = _simple(sub, parser_class, "field", "custom fields on follow-ups", field_add, field_list)
    field["add"].add_argument("--type", choices=[t.value for t in FieldType], default=FieldType.TEXT.value,
                              help="value type (default text)")
    field["add"].add_argument("--value", dest="values", action="append", metavar="VALUE",
                              help="a choice of a list field (repeatable, or comma-separated)")
    field["update"].add_argument("--type", choices=[t.value for t in FieldType],
                                 help="a new value type; refused when a stored value would not fit it "
                                      "(the error names the follow-ups)")
    field["update"].add_argument("--value", dest="values", action="append", metavar="VALUE",
                                 help="the choices of a list field, all of them (repeatable, or comma-separated); "
                                      "refused when a stored value would not be one of them")


def _simple(sub: Any, parser_class: type[argparse.ArgumentParser], noun: str, plural: str,
            add: Handler, listing: Handler) -> dict[str, argparse.ArgumentParser]:
    """``NOUN add|list|update|remove|unarchive``; the parsers by action, for more options."""
    top = sub.add_parser(noun, help=plural, description=f"Manage {plural}.")
    actions = top.add_subparsers(dest="action", metavar="ACTION", required=True, parser_class=parser_class)
    parsers = {"add": actions.add_parser("add", help=f"add a {noun}", description=f"Add a {noun}; prints its id."),
               "list": actions.add_parser("list", help=f"list {plural}",
                                          description=f"List {plural} (not archived ones).")}
    parsers["add"].add_argument("name")
    parsers["add"].set_defaults(handler=add)
    all_option(parsers["list"], plural)
    parsers["list"].set_defaults(handler=listing)
    parsers["update"] = p = actions.add_parser(
        "update", help=f"change a {noun}",
        description=f"Change a {noun}; only the options given change. Every calendar object that shows it "
                    "follows, on each client's next sync.")
    p.add_argument("record", metavar="ID|NAME", help=f"the {noun}'s id, or its name (case-insensitive)")
    p.add_argument("--name", help="the new name")
    p.set_defaults(handler=_updater(noun))
    for parser in parsers.values():
        add_json(parser)
    retire(actions, noun, "ID|NAME", f"the {noun}'s id, or its name (case-insensitive)")
    return parsers


def retire(actions: Any, noun: str, metavar: str, key_help: str) -> None:
    """``NOUN remove [--archive]`` and ``NOUN unarchive``."""
    p = actions.add_parser(
        "remove", help=f"remove a {noun}, or archive it (--archive)",
        description=f"Remove a {noun}. Refused while {REFERRERS[noun]} refer to it; the error names them: "
                    f"update or remove them first, or use --archive. An archived {noun} stays on what "
                    f"has it, is refused for anything new, and `{noun} list` leaves it out (unless --all); "
                    f"`{noun} unarchive` brings it back.")
    p.add_argument("record", metavar=metavar, help=key_help)
    p.add_argument("--archive", action="store_true", help="archive it instead (whether or not anything refers to it)")
    add_json(p)
    p.set_defaults(handler=_remover(noun))
    p = actions.add_parser("unarchive", help=f"bring an archived {noun} back",
                           description=f"Bring an archived {noun} back: listed, and usable by new follow-ups.")
    p.add_argument("record", metavar=metavar, help=key_help)
    add_json(p)
    p.set_defaults(handler=_unarchiver(noun))


def all_option(p: argparse.ArgumentParser, plural: str) -> None:
    p.add_argument("--all", action="store_true", help=f"archived {plural} too, marked as such")


def _company_options(parsers: dict[str, argparse.ArgumentParser]) -> None:
    parsers["add"].add_argument("--company", type=record_id, metavar="ID", help="the company it belongs to")
    parsers["list"].add_argument("--company", type=record_id, metavar="ID", help="only those of this company")
    company = parsers["update"].add_mutually_exclusive_group()
    company.add_argument("--company", type=record_id, metavar="ID", help="the company it belongs to")
    company.add_argument("--no-company", action="store_true", help="it belongs to no company")
