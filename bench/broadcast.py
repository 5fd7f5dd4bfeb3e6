"""How fast one prompt reaches many participants within Telegram's limit, and how fast planning is.

Broadcast: N participants (seeded straight through the storage layer) all get the first reflection
of the default programme through Välitupa's real outbox and dispatcher, against the Bot API sandbox
enforcing L messages per second (429 past it). ``settings.broadcast_rate`` is set just under L
(``--rate``, default 0.95 L). Reported: achieved messages/s ÷ L (goal ≥ 0.9), 429s received (goal 0)
and duplicates (must be 0). Baseline in the same run: a bare python-telegram-bot loop with the same
paced rate limiter and concurrency sending N messages, no database at all.

Planning: 10,000 participants × the default programme's 25 prompts, the pure planner
(:func:`bot.domain.planning.plan_changes`) against the baseline of one fresh :class:`bot.domain.planning.Planner`
per participant (no sharing), and the database write (:func:`bot.services.outbox.write_plan_changes`)
against the baseline of a plain INSERT of the same rows (no conflict handling), plus the whole
``replan_process`` (load, plan, write) and the same again when nothing has changed.

Run: ``python bench/broadcast.py --n 2000 --limit 200`` (``--help`` for the rest). A scaled limit
(200/s instead of Telegram's 30/s) keeps the run short; the pacing logic is the same.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pydantic import SecretStr
from sqlalchemy import delete, insert, select, text
from sqlalchemy.ext.asyncio import create_async_engine
from telegram.constants import ParseMode
from telegram.ext import Application

from bot.app import build_application
from bot.context import Services
from bot.domain.clock import FakeClock
from bot.domain.planning import PlanInput, Planner, plan_changes
from bot.domain.programme import parse_process
from bot.infra.ratelimit import PacedRateLimiter
from bot.jobs.dispatcher import in_flight_limit
from bot.services import outbox
from bot.services.processes import create_process
from bot.settings import Settings
from messages import default_catalog
from sandbox.server import SANDBOX_TOKEN, BotApiSandbox
from storage import migrate
from storage.db import Database, normalise_url
from storage.models import Delivery, Membership, Organisation, Process, User
from tests.support.factories import process_yaml

FIRST_USER = 700_000
BASELINE_USER = 800_000
PLAN_USER = 900_000
CREATED = datetime(2027, 1, 10, 10, 0, tzinfo=UTC)
FIRST_REFLECTION = datetime(2027, 1, 15, 7, 0, tzinfo=UTC)  # W1 +1d 09:00 in Helsinki


async def seed_process(db: Database, count: int, first_user: int) -> int:
    """A process with ``count`` participants who completed joining, inserted in bulk."""
    text = process_yaml()
    spec = parse_process(text)

    async def work(session: Any) -> int:
        process = await create_process(session, spec=spec, source_yaml=text, created_by=None, now=CREATED)
        organisations = list(
            await session.scalars(
                select(Organisation.id)
                .where(Organisation.process_id == process.id)
                .order_by(Organisation.position)
            )
        )
        roles = ("employee", "management", "employee", "elected", "other")
        for start in range(0, count, 5000):
            chunk = range(start, min(count, start + 5000))
            await session.execute(
                insert(User),
                [
                    {
                        "id": first_user + n,
                        "consent": "given",
                        "consent_at": CREATED,
                        "language": ("fi", "fi", "sv", "en")[n % 4],
                        "created_at": CREATED,
                    }
                    for n in chunk
                ],
            )
            await session.execute(
                insert(Membership),
                [
                    {
                        "process_id": process.id,
                        "user_id": first_user + n,
                        "is_facilitator": False,
                        "organisation_id": organisations[n % len(organisations)],
                        "role": roles[n % len(roles)],
                        "pseudonym": f"P-{first_user + n}",
                        "show_name": False,
                        "paused": False,
                        "unreachable": False,
                        "complete": True,
                        "joined_at": CREATED,
                    }
                    for n in chunk
                ],
            )
        return int(process.id)

    return await db.run(work)


def sends_in(sandbox: BotApiSandbox, since: int) -> list[Any]:
    return [call for call in sandbox.requests[since:] if call.method == "sendMessage"]


def rate_of(calls: list[Any]) -> float:
    ok = [call.time for call in calls if call.status == 200]
    if len(ok) < 2:
        return 0.0
    return (len(ok) - 1) / (max(ok) - min(ok))


async def broadcast_run(
    sandbox: BotApiSandbox, db: Database, n: int, rate: float
) -> tuple[float, int, int, int, float]:
    """Välitupa: plan everyone, move to the first reflection, tick until the outbox is empty.
    Returns (msgs/s, 429s, duplicates, delivered, wall seconds)."""
    process_id = await seed_process(db, n, FIRST_USER)
    for index in range(n):
        sandbox.user(FIRST_USER + index, first_name=f"U{index}", language_code="fi")
    clock = FakeClock(CREATED)

    async def plan(session: Any) -> None:
        process = await session.get(Process, process_id)
        await outbox.replan_process(session, process, CREATED)

    await db.run(plan)
    settings = Settings(
        bot_token=SecretStr(SANDBOX_TOKEN),
        telegram_api_url=sandbox.url,
        broadcast_rate=rate,
        _env_file=None,  # type: ignore[call-arg]
    )
    services = Services(settings=settings, db=db, clock=clock, catalog=default_catalog(), instance="bench")
    application = build_application(services)
    await application.initialize()
    dispatcher = services.dispatcher
    assert dispatcher is not None
    clock.set(FIRST_REFLECTION)
    since = len(sandbox.requests)
    errors_before = sandbox.stats["429"]
    started = time.perf_counter()
    try:
        while True:
            report = await dispatcher.tick()
            if not (report.sent or report.retried or report.released):
                break
    finally:
        await application.shutdown()
    wall = time.perf_counter() - started
    calls = sends_in(sandbox, since)
    per_chat = Counter(int(call.params["chat_id"]) for call in calls if call.status == 200)
    duplicates = sum(count - 1 for count in per_chat.values() if count > 1)
    return rate_of(calls), sandbox.stats["429"] - errors_before, duplicates, sum(per_chat.values()), wall


async def baseline_run(sandbox: BotApiSandbox, n: int, rate: float, in_flight: int) -> tuple[float, int]:
    """Bare PTB with the same limiter and concurrency: N sends, no database. Returns (msgs/s, 429s)."""
    for index in range(n):
        sandbox.user(BASELINE_USER + index, first_name=f"B{index}", language_code="fi")
    application = (
        Application.builder()
        .token(SANDBOX_TOKEN)
        .base_url(f"{sandbox.url}/bot")
        .rate_limiter(PacedRateLimiter(bulk_per_second=rate))
        .connection_pool_size(128)
        .updater(None)
        .build()
    )
    await application.initialize()
    queue = list(range(n))
    since = len(sandbox.requests)
    errors_before = sandbox.stats["429"]

    async def worker() -> None:
        while queue:
            index = queue.pop(0)
            await application.bot.send_message(
                chat_id=BASELINE_USER + index,
                text="💭 <b>Vaihe 1</b>\n\nKiitos ensimmäisestä työpajasta! Mikä sieltä jäi mieleesi?",
                parse_mode=ParseMode.HTML,
                rate_limit_args={"bulk": True},
            )

    try:
        await asyncio.gather(*(worker() for _ in range(in_flight)))
    finally:
        await application.shutdown()
    return rate_of(sends_in(sandbox, since)), sandbox.stats["429"] - errors_before


async def planning_run(db: Database, participants: int) -> dict[str, float]:
    """Plan the default programme for ``participants`` fresh participants: pure and database."""
    process_id = await seed_process(db, participants, PLAN_USER)

    async def load(session: Any) -> PlanInput:
        process = await session.get(Process, process_id)
        return await outbox.load_plan_input(session, process)

    timings: dict[str, float] = {}
    started = time.perf_counter()
    plan_input = await db.run(load)
    timings["load"] = time.perf_counter() - started

    started = time.perf_counter()
    changes = plan_changes(plan_input, CREATED)
    timings["pure"] = time.perf_counter() - started
    timings["rows"] = len(changes.inserts)
    timings["prompts"] = len(plan_input.items)

    started = time.perf_counter()
    for _member in plan_input.members:
        Planner(plan_input.items, plan_input.policy, now=CREATED).plan()
    timings["pure_baseline"] = time.perf_counter() - started

    started = time.perf_counter()
    await db.run(lambda session: outbox.write_plan_changes(session, changes))
    timings["write"] = time.perf_counter() - started

    prompt_ids = [int(item.prompt_id) for item in plan_input.items]

    async def clear(session: Any) -> None:
        await session.execute(delete(Delivery).where(Delivery.prompt_id.in_(prompt_ids)))

    await db.run(clear)
    rows = changes.inserts

    async def raw_insert(session: Any) -> None:
        table = Delivery.__table__
        for start in range(0, len(rows), 5000):
            await session.execute(table.insert(), rows[start : start + 5000])  # type: ignore[attr-defined]

    started = time.perf_counter()
    await db.run(raw_insert)
    timings["write_baseline"] = time.perf_counter() - started

    await db.run(clear)

    async def full(session: Any) -> None:
        process = await session.get(Process, process_id)
        await outbox.replan_process(session, process, CREATED)

    started = time.perf_counter()
    await db.run(full)
    timings["replan_process"] = time.perf_counter() - started

    started = time.perf_counter()
    await db.run(full)
    timings["replan_again"] = time.perf_counter() - started
    return timings


async def run_sql(url: str, statement: str) -> None:
    engine = create_async_engine(normalise_url(url), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(text(statement))
    finally:
        await engine.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=2000, help="participants receiving the prompt")
    parser.add_argument("--limit", type=float, default=30.0, help="the sandbox's messages/s limit L")
    parser.add_argument("--rate", type=float, default=None, help="settings.broadcast_rate (default 0.95 L)")
    parser.add_argument("--plan-participants", type=int, default=10_000, help="participants to plan for")
    parser.add_argument("--database", default=None, help="DATABASE_URL (default: a temporary SQLite file)")
    parser.add_argument(
        "--schema", default=None, help="PostgreSQL: work in this new schema and drop it afterwards"
    )
    args = parser.parse_args()
    rate = args.rate or args.limit * 0.95

    with tempfile.TemporaryDirectory() as directory:
        url = args.database or f"sqlite+aiosqlite:///{Path(directory) / 'bench.db'}"
        if args.schema:
            await run_sql(url, f'CREATE SCHEMA "{args.schema}"')
        db = Database(url, schema=args.schema)
        await migrate.upgrade(db)
        sandbox = BotApiSandbox()
        await sandbox.start()
        sandbox.set_rate_limit(per_second=args.limit)
        try:
            print(
                f"Broadcast: {args.n} participants, sandbox limit L = {args.limit:g}/s, paced at {rate:g}/s"
            )
            achieved, errors, duplicates, delivered, wall = await broadcast_run(sandbox, db, args.n, rate)
            print(
                f"  Välitupa  {achieved:7.1f} msg/s = {achieved / args.limit:.3f} L   429s {errors}   "
                f"duplicates {duplicates}   delivered {delivered}/{args.n} in {wall:.1f} s"
            )
            await asyncio.sleep(1.5)  # let the sandbox's bucket refill between the runs
            in_flight = in_flight_limit(rate)
            base, base_errors = await baseline_run(sandbox, args.n, rate, in_flight)
            print(
                f"  baseline  {base:7.1f} msg/s = {base / args.limit:.3f} L   429s {base_errors}   "
                f"(bare PTB, same limiter, {in_flight} in flight, no database)"
            )
            ok = achieved / args.limit >= 0.9 and errors == 0 and duplicates == 0 and delivered == args.n
            print(f"  goals (≥ 0.9 L, no 429, no duplicate, all delivered): {'met' if ok else 'NOT met'}")

            print(f"Planning: {args.plan_participants} participants × the default programme")
            timings = await planning_run(db, args.plan_participants)
            rows = int(timings["rows"])
            print(
                f"  pure planner      {timings['pure'] * 1000:8.1f} ms for {rows} deliveries "
                f"({int(timings['prompts'])} prompts); baseline one Planner per participant "
                f"{timings['pure_baseline'] * 1000:8.1f} ms"
            )
            print(
                f"  database insert   {timings['write']:8.2f} s ({rows / timings['write']:,.0f} rows/s); "
                f"baseline plain INSERT {timings['write_baseline']:.2f} s"
            )
            print(
                f"  replan_process    {timings['replan_process']:8.2f} s (load {timings['load']:.2f} s + plan + "
                f"write); again with nothing to change {timings['replan_again']:.2f} s"
            )
        finally:
            await sandbox.stop()
            await db.dispose()
            if args.schema:
                await run_sql(url, f'DROP SCHEMA "{args.schema}" CASCADE')
        if sandbox.violations:
            print(f"Bot API violations: {len(sandbox.violations)}; first: {sandbox.violations[0]}")


if __name__ == "__main__":
    asyncio.run(main())
