"""``valitupa process …``: create a process from its YAML file, list processes, renew a process's
invite links (``rotate-links``: the old links stop working) and take a facilitator out of one
(``remove-facilitator``).

``process create`` is safe to run twice: the same file (same name, same text) a second time prints the
links of the process the first run made instead of making another, and a different file under a name
that is already taken is refused. The invite links are printed even when Telegram cannot be asked for
the bot's name: from ``BOT_USERNAME``, else from ``getMe`` when a token is set, else with a placeholder
and a hint to set ``BOT_USERNAME``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from bot.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from bot.domain.programme import ProcessSpec
    from storage.models import Process

log = logging.getLogger(__name__)

PLACEHOLDER_USERNAME = "<bot username>"


def add_process_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    process = commands.add_parser("process", help="create and list processes")
    process_commands = process.add_subparsers(dest="process_command", required=True)
    create = process_commands.add_parser("create", help="create a process from a YAML file")
    create.add_argument("file", type=Path)
    process_commands.add_parser("list", help="list processes")
    rotate = process_commands.add_parser(
        "rotate-links", help="new invite links for a process (the old ones stop working)"
    )
    rotate.add_argument("process", help="process id or exact name")
    remove = process_commands.add_parser("remove-facilitator", help="take a facilitator out of a process")
    remove.add_argument("process", help="process id or exact name")
    remove.add_argument("telegram_id", type=int, help="the facilitator's Telegram user id")


async def process_cli(settings: Settings, args: argparse.Namespace) -> int:
    if args.process_command == "create":
        return await process_create(settings, args.file)
    if args.process_command == "list":
        return await process_list(settings)
    if args.process_command == "rotate-links":
        return await process_rotate_links(settings, args.process)
    if args.process_command == "remove-facilitator":
        return await process_remove_facilitator(settings, args.process, args.telegram_id)
    raise AssertionError(args.process_command)


async def bot_username(settings: Settings) -> str | None:
    """The bot's name for invite links, or None when it cannot be known; never raises."""
    if settings.bot_username:
        return settings.bot_username.lstrip("@")
    if settings.bot_token is None:
        return None
    from telegram import Bot

    api = settings.telegram_api_url
    bot = Bot(settings.bot_token.get_secret_value(), base_url=f"{api}/bot", base_file_url=f"{api}/file/bot")
    try:
        async with bot:
            return bot.username
    except Exception as error:  # any failure only means the links get a placeholder
        log.warning("Telegram could not be asked for the bot's name (%s)", type(error).__name__)
        return None


@dataclass(frozen=True, slots=True)
class Created:
    process: Process
    new: bool


@dataclass(frozen=True, slots=True)
class NameTaken:
    process_id: int


async def create_once(
    session: AsyncSession, *, spec: ProcessSpec, text: str, now: datetime
) -> Created | NameTaken:
    """The process of this file: made now, or the one the same file made before."""
    from sqlalchemy import select

    from bot.services.processes import create_process, get_process
    from storage.models import Process

    query = select(Process.id, Process.source_yaml).where(Process.name == spec.name).order_by(Process.id)
    same_name = (await session.execute(query)).all()
    for process_id, source in same_name:
        if source == text:
            existing = await get_process(session, process_id)
            assert existing is not None
            return Created(existing, new=False)
    if same_name:
        return NameTaken(same_name[0][0])
    process = await create_process(session, spec=spec, source_yaml=text, created_by=None, now=now)
    return Created(process, new=True)


async def process_create(settings: Settings, file: Path) -> int:
    from bot.domain.clock import SystemClock
    from bot.domain.programme import ProcessFileError, parse_process
    from bot.render.rehearsal import budget_warning
    from messages import default_catalog
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
    warning = budget_warning(default_catalog(), "en", spec, plain=True)
    if warning:
        print(f"Warning: {warning}", file=sys.stderr)
    db = Database(settings.database_url)
    try:
        await migrate.upgrade(db)
        now = SystemClock().now()
        outcome = await db.run(lambda session: create_once(session, spec=spec, text=text, now=now))
    finally:
        await db.dispose()
    if isinstance(outcome, NameTaken):
        print(
            f"{file} was not stored: process {outcome.process_id} is already called {spec.name!r}.\n"
            "Give the new process another name, or change that one's programme with /programme in Telegram.",
            file=sys.stderr,
        )
        return 1
    await print_links(settings, outcome)
    return 0


async def print_links(settings: Settings, outcome: Created, *, verb: str | None = None) -> None:
    process = outcome.process
    username = await bot_username(settings)
    verb = verb or ("Created" if outcome.new else "Already created (nothing new stored)")
    print(f"{verb} process {process.id}: {process.name}")
    name = username or PLACEHOLDER_USERNAME
    print(f"Participant invite link: https://t.me/{name}?start={process.participant_code}")
    print(f"Facilitator invite link: https://t.me/{name}?start={process.facilitator_code}")
    if username is None:
        print(
            f"Replace {PLACEHOLDER_USERNAME} with the bot's name, or set BOT_USERNAME and run "
            "'valitupa process create' with the same file again to print the links in full."
        )


async def process_list(settings: Settings) -> int:
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


async def process_rotate_links(settings: Settings, reference: str) -> int:
    """``valitupa process rotate-links PROCESS``: new codes for both links, printed."""
    from bot.services.processes import find_process, rotate_links
    from storage import migrate
    from storage.db import Database

    db = Database(settings.database_url)

    async def work(session: AsyncSession) -> Process | None:
        process = await find_process(session, reference)
        if process is not None:
            rotate_links(process)
        return process

    try:
        await migrate.upgrade(db)
        process = await db.run(work)
    finally:
        await db.dispose()
    if process is None:
        print(
            f"No process {reference!r}: give its id or exact name (see: valitupa process list).",
            file=sys.stderr,
        )
        return 1
    print("The old invite links of this process no longer work; these are the new ones.")
    await print_links(settings, Created(process, new=False), verb="Renewed the links of")
    return 0


async def process_remove_facilitator(settings: Settings, reference: str, telegram_id: int) -> int:
    """``valitupa process remove-facilitator PROCESS TELEGRAM_ID``."""
    from bot.domain.clock import SystemClock
    from bot.services.people import facilitator_ids, remove_facilitator
    from bot.services.processes import find_process
    from storage import migrate
    from storage.db import Database

    db = Database(settings.database_url)
    now = SystemClock().now()

    async def work(session: AsyncSession) -> tuple[Process | None, bool, int]:
        process = await find_process(session, reference)
        if process is None:
            return None, False, 0
        removed = await remove_facilitator(session, process_id=process.id, user_id=telegram_id, now=now)
        return process, removed, len(await facilitator_ids(session, process.id))

    try:
        await migrate.upgrade(db)
        process, removed, left = await db.run(work)
    finally:
        await db.dispose()
    if process is None:
        print(
            f"No process {reference!r}: give its id or exact name (see: valitupa process list).",
            file=sys.stderr,
        )
        return 1
    if not removed:
        print(
            f"{telegram_id} is not a facilitator of process {process.id} ({process.name}).", file=sys.stderr
        )
        return 1
    print(f"Removed facilitator {telegram_id} from process {process.id} ({process.name}); {left} left.")
    print("The running bot tells them in Telegram that they no longer have the facilitator's access.")
    if left == 0:
        print(
            "The process has no facilitator now: run 'valitupa process rotate-links' and share the new link."
        )
    return 0
