"""The ``valitupa`` console command: run the bot, migrate, create and list processes, digests, exports."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

from bot.cli_process import add_process_commands, process_cli
from bot.infra.logs import configure_logging
from bot.settings import Settings, SettingsError, load_settings

EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="valitupa", description="Välitupa: the room between workshops.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="run the bot (long polling, or webhook when WEBHOOK_URL is set)")

    db = commands.add_parser("db", help="database maintenance")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    db_commands.add_parser("upgrade", help="apply all migrations")

    add_process_commands(commands)

    digest = commands.add_parser("digest", help="write a process digest as HTML")
    digest.add_argument("process", help="process id or exact name")
    digest.add_argument("--since", help="start of the period (YYYY-MM-DD); default: since the last digest")
    digest.add_argument("--out", type=Path, help="output file (default: digest-<id>.html)")
    digest.add_argument("--force", action="store_true", help="overwrite the output file if it exists")

    export = commands.add_parser("export", help="export a process as XLSX, CSV and JSON")
    export.add_argument("process", help="process id or exact name")
    export.add_argument("--out", type=Path, required=True, help="output directory")
    export.add_argument("--force", action="store_true", help="overwrite an earlier export in that directory")

    rehearse = commands.add_parser(
        "rehearse", help="play a process file on a virtual clock and show what everyone would receive"
    )
    rehearse.add_argument("file", type=Path)
    rehearse.add_argument(
        "--participants",
        type=int,
        help="imagined participants (default: one per organisation × role, plus one who never answers)",
    )
    rehearse.add_argument("--format", choices=("text", "json", "html"), default="text")
    rehearse.add_argument("--out", type=Path, help="write to this file instead of standard output")
    rehearse.add_argument("--force", action="store_true", help="overwrite --out if it exists")

    purge = commands.add_parser("purge", help="purge processes past their retention")
    purge.add_argument("--dry-run", action="store_true", help="only show what would be purged")
    return parser


async def _db_upgrade(settings: Settings) -> int:
    from storage import migrate
    from storage.db import Database

    db = Database(settings.database_url)
    try:
        await migrate.upgrade(db)
        print(f"Database is at revision {await migrate.current_revision(db)}.")
    finally:
        await db.dispose()
    return 0


async def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "run":
        from bot.runner import run

        await run(settings)
        return 0
    if args.command == "db":
        return await _db_upgrade(settings)
    if args.command == "process":
        return await process_cli(settings, args)
    if args.command == "digest":
        from bot.digest_cli import write_digest

        return await write_digest(
            settings, reference=args.process, since=args.since, out=args.out, force=args.force
        )
    if args.command == "export":
        from bot.digest_cli import write_export

        return await write_export(settings, reference=args.process, out=args.out, force=args.force)
    if args.command == "rehearse":
        from bot.cli_rehearse import rehearse_cli

        return rehearse_cli(
            args.file, participants=args.participants, fmt=args.format, out=args.out, force=args.force
        )
    if args.command == "purge":
        from bot.cli_purge import purge_cli

        return await purge_cli(settings, dry_run=args.dry_run)
    raise AssertionError(args.command)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
        if args.command == "run":
            settings.require_token()
    except SettingsError as error:
        print(f"valitupa: {error}", file=sys.stderr)
        return EXIT_USAGE
    configure_logging(settings)
    try:
        return asyncio.run(_dispatch(args, settings))
    except SettingsError as error:
        print(f"valitupa: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
