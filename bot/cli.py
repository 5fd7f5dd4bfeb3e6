"""The ``valitupa`` console command: run the bot, migrate, create and list processes, digests, exports."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

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

    process = commands.add_parser("process", help="create and list processes")
    process_commands = process.add_subparsers(dest="process_command", required=True)
    create = process_commands.add_parser("create", help="create a process from a YAML file")
    create.add_argument("file", type=Path)
    process_commands.add_parser("list", help="list processes")

    digest = commands.add_parser("digest", help="write a process digest as HTML")
    digest.add_argument("process", help="process id or exact name")
    digest.add_argument("--since", help="start of the period (YYYY-MM-DD); default: since the last digest")
    digest.add_argument("--out", type=Path, help="output file (default: digest-<id>.html)")

    export = commands.add_parser("export", help="export a process as XLSX, CSV and JSON")
    export.add_argument("process", help="process id or exact name")
    export.add_argument("--out", type=Path, required=True, help="output directory")

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


async def bot_username(settings: Settings) -> str | None:
    if settings.bot_username:
        return settings.bot_username.lstrip("@")
    if settings.bot_token is None:
        return None
    from telegram import Bot
    from telegram.error import TelegramError

    api = settings.telegram_api_url
    bot = Bot(settings.bot_token.get_secret_value(), base_url=f"{api}/bot", base_file_url=f"{api}/file/bot")
    try:
        async with bot:
            return bot.username
    except (TelegramError, OSError):
        return None


async def _process_create(settings: Settings, file: Path) -> int:
    from bot.domain.clock import SystemClock
    from bot.domain.programme import ProcessFileError, parse_process
    from bot.services.processes import create_process
    from storage import migrate
    from storage.db import Database

    try:
        text = await asyncio.to_thread(file.read_text, encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        print(f"Cannot read {file}: {error}", file=sys.stderr)
        return 1
    try:
        spec = parse_process(text, source=str(file))
    except ProcessFileError as error:
        print(f"{file} was not stored:\n{error}", file=sys.stderr)
        return 1
    db = Database(settings.database_url)
    try:
        await migrate.upgrade(db)
        now = SystemClock().now()
        process = await db.run(
            lambda session: create_process(session, spec=spec, source_yaml=text, created_by=None, now=now)
        )
    finally:
        await db.dispose()
    username = await bot_username(settings) or "<bot username>"
    print(f"Created process {process.id}: {process.name}")
    print(f"Participant invite link: https://t.me/{username}?start={process.participant_code}")
    print(f"Facilitator invite link: https://t.me/{username}?start={process.facilitator_code}")
    return 0


async def _process_list(settings: Settings) -> int:
    from zoneinfo import ZoneInfo

    from bot.services.processes import list_processes
    from storage import migrate
    from storage.db import Database

    db = Database(settings.database_url)
    try:
        await migrate.upgrade(db)
        rows = await db.run(list_processes)
    finally:
        await db.dispose()
    if not rows:
        print("No processes yet. Create one with: valitupa process create FILE.yaml")
        return 0
    print(f"{'id':>4}  {'participants':>12}  {'facilitators':>12}  {'first workshop':<16}  name")
    for process, participants, facilitators in rows:
        first = (
            process.workshops[0].starts_at.astimezone(ZoneInfo(process.timezone))
            if process.workshops
            else None
        )
        when = first.strftime("%Y-%m-%d %H:%M") if first else "-"
        print(f"{process.id:>4}  {participants:>12}  {facilitators:>12}  {when:<16}  {process.name}")
    return 0


async def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "run":
        from bot.runner import run

        await run(settings)
        return 0
    if args.command == "db":
        return await _db_upgrade(settings)
    if args.command == "process":
        if args.process_command == "create":
            return await _process_create(settings, args.file)
        return await _process_list(settings)
    if args.command == "digest":
        from bot.digest_cli import write_digest

        return await write_digest(settings, reference=args.process, since=args.since, out=args.out)
    if args.command == "export":
        from bot.digest_cli import write_export

        return await write_export(settings, reference=args.process, out=args.out)
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
