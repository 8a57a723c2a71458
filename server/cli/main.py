"""The ``followups`` command: the CRM's follow-up store from the shell.

Writes go through :mod:`server.services.followups` (so calendars stay current); reads
use a read-only unit of work. Expected errors print one line,
``followups: error: <what to do>``, and exit 2 for bad input or 1 for other
failures; ``--json`` prints stable JSON (see :mod:`server.services.views`) for scripts.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

import mapping
from server import config
from server.cli import check as cli_check
from server.cli import directory as cli_directory
from server.cli import exporting as cli_exporting
from server.cli import feeds as cli_feeds
from server.cli import followups as cli_followups
from server.cli import importing as cli_importing
from server.cli import records as cli_records
from server.cli import team as cli_team
from server.cli import views as cli_views
from server.cli.common import PROG, Context, Parser, Progress, emit_json, non_negative_int
from server.services import caches
from store.errors import Conflict, InvalidFollowup, NotFound, StoreError

EXIT_FAILURE = 1
EXIT_USAGE = 2


def cmd_init(ctx: Context) -> int:
    from server.services.followups import open_store

    open_store(ctx.url)
    print(f"store ready at {ctx.url}", file=sys.stderr)
    return 0


def cmd_demo(ctx: Context) -> int:
    from server.demo import PASSWORD, load_demo
    from server.services.followups import open_store

    engine = open_store(ctx.url)
    bar = Progress("loading demo data")
    try:
        info = load_demo(engine, progress=bar)
    finally:
        bar.finish()
    if ctx.json:
        emit_json(info.as_dict())
        return 0
    print(f"demo data loaded: {len(info.users)} users, {info.resources} resources, {info.companies} companies, "
          f"{info.followups} follow-ups")
    print(f"log in as {', '.join(login for login, _ in info.users)} with the password {PASSWORD!r}")
    return 0


def cmd_serve(ctx: Context) -> int:
    from server.dav.server import serve  # type: ignore[import-not-found, unused-ignore]

    return int(serve(ctx.settings, ctx.config_file, demo=bool(getattr(ctx.args, "demo", False))) or 0)


def cmd_prune_tombstones(ctx: Context) -> int:
    from datetime import timedelta

    from server.services.followups import open_store, prune_tombstones

    pruned = prune_tombstones(open_store(ctx.url), timedelta(days=ctx.args.older_than))
    if ctx.json:
        emit_json({"pruned": pruned, "older_than_days": ctx.args.older_than})
    else:
        print(f"forgot {pruned} removal(s) older than {ctx.args.older_than} day(s)")
    return 0


CONFIG_HELP = (f"config file (default: ${config.CONFIG_ENV}, else the first of {', '.join(config.DEFAULT_FILES)} "
               "that exists; '' for none)")


def _option_type(key: str) -> Any:
    def parse(raw: str) -> Any:
        try:
            return config.convert(key, raw)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = key
    return parse


def add_config_options(parser: argparse.ArgumentParser, keys: Sequence[str]) -> None:
    """Flags for the schema's options ``keys``, generated from it. No argparse defaults:
    an option not given on the command line comes from the environment, the config
    file or the schema (see :func:`server.config.load`)."""
    for key in keys:
        spec = config.SCHEMA[key]
        default = f"default: {spec['value']}; " if spec["value"] != "" else ""
        parser.add_argument(config.flag(key), dest=key, metavar=spec.get("metavar"), type=_option_type(key),
                            default=argparse.SUPPRESS,
                            help=f"{spec['help']} ({default}environment: ${spec['env']})".replace("%", "%%"))


def flag_values(args: argparse.Namespace) -> dict[str, Any]:
    """The schema's options given as flags (absent ones are not in ``args``)."""
    given = vars(args)
    return {key: given[key] for key in config.SCHEMA if key in given}


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("followup-caldav")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog=PROG, description="The CRM's follow-ups (meetings, to-dos, calls) and their CalDAV server.",
                    epilog="Every command has --help. Exit codes: 0 ok, 1 failure, 2 bad input.")
    add_config_options(parser, [key for key, spec in config.SCHEMA.items() if spec.get("global")])
    parser.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS, help=CONFIG_HELP)
    parser.add_argument("--json", action="store_true", help="print JSON for scripts (also accepted after a command)")
    parser.add_argument("--version", action="version", version=f"{PROG} {_version()}",
                        help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=Parser)

    p = sub.add_parser("init", help="create or upgrade the store",
                       description="Create the store, or upgrade its schema; never drops data.")
    p.set_defaults(handler=cmd_init)
    p = sub.add_parser("demo", help="load demo data into an empty store",
                       description="Create the store if needed and load demo users, rooms, companies and ~200 "
                                   "follow-ups over this month and the next. Users anna, bjorn, carla and david, "
                                   "password 'demo'. Refuses a store that already holds users or follow-ups.")
    p.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print a JSON summary")
    p.set_defaults(handler=cmd_demo)

    p = sub.add_parser("prune-tombstones", help="forget calendar members removed long ago",
                       description="Each calendar remembers the members removed from it, so that a client's "
                                   "next sync can report them. This forgets those older than --older-than days. "
                                   "A client that has not synced since then is told its sync token is no longer "
                                   "valid (403) and syncs afresh, so nothing is missed. Run it from cron, "
                                   "e.g. weekly.")
    p.add_argument("--older-than", type=non_negative_int, default=90, metavar="DAYS",
                   help="age in days of the removals to forget (default: 90)")
    p.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print a JSON summary")
    p.set_defaults(handler=cmd_prune_tombstones)

    cli_directory.register(sub, Parser)
    cli_records.register(sub, Parser)
    cli_followups.register(sub, Parser)
    cli_team.register(sub, Parser)
    cli_views.register(sub, Parser)
    cli_check.register(sub, Parser)
    cli_exporting.register(sub, Parser)
    cli_importing.register(sub, Parser)
    cli_feeds.register(sub, Parser)

    p = sub.add_parser("serve", help="run the CalDAV server",
                       description="Run the CalDAV server over the store: gunicorn, with --workers processes of "
                                   "--threads threads each. SIGTERM stops it gracefully (requests under way "
                                   "finish, for up to --graceful-timeout seconds); so does Ctrl+C, at once. "
                                   "GET /.health answers whether the database can be reached.")
    add_config_options(p, list(config.SCHEMA))
    p.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS, help=CONFIG_HELP)
    p.add_argument("--demo", action="store_true", help="load demo data first when the store is empty")
    p.set_defaults(handler=cmd_serve)
    return parser


def _fail(message: str, code: int) -> int:
    sys.stderr.write(f"{PROG}: error: {message}\n")
    return code


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from store import db

    handler: Any = args.handler
    try:
        settings, config_file = config.resolve(getattr(args, "config", None), flag_values(args))
        mapping.configure_limits(mapping.Limits.from_settings(settings))
        caches.configure(settings)
        ctx = Context(args=args, url=settings.database or db.default_url(), settings=settings,
                      config_file=config_file)
        return int(handler(ctx))
    except (InvalidFollowup, NotFound) as exc:
        return _fail(str(exc), EXIT_USAGE)
    except Conflict as exc:
        return _fail(str(exc), EXIT_FAILURE)
    except StoreError as exc:
        return _fail(str(exc), EXIT_FAILURE)
    except (ValueError, LookupError) as exc:
        return _fail(str(exc) or type(exc).__name__, EXIT_USAGE)
    except SQLAlchemyError as exc:
        first = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        return _fail(f"database error: {first[0] if first else type(exc).__name__}", EXIT_FAILURE)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except BrokenPipeError:
        return EXIT_FAILURE
    finally:
        db.dispose_all()


if __name__ == "__main__":
    sys.exit(main())
