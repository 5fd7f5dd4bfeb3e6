"""How many participant messages Välitupa handles per second, and how fast each is acknowledged.

Simulated participants send observations through the Bot API sandbox; the real Application (long
polling through its durable inbox, SQLite file with WAL) stores each update in the inbox, files it and
answers with its acknowledgement. In the same run a
bare python-telegram-bot echo bot on the same sandbox gives the baseline: what PTB and the sandbox
cost without Välitupa's work. The goal is measured against the echo bot as PTB ships it (httpx);
Välitupa talks to the Bot API through its own aiohttp transport (``bot/transport.py``), so the
same echo bot on that transport is measured too, to show how much of the difference is the
transport and how much is Välitupa's own work. Two loads are measured for each bot:

* throughput: every participant sends its messages one after another as fast as answers come back
  (closed loop, all participants at once), reported as updates/s;
* offered load: messages arrive at a fixed rate (default 100/s), reported as p50/p99 latency from
  the update being sent to the acknowledgement arriving.

The Telegram side runs in its own process, on a CPU of its own (Linux, two CPUs or more): the last
CPU goes to the sandbox and the simulated participants, the others to the bot under test, whichever
bot it is. Unpinned, the two processes and the bot's database thread share the CPUs as the kernel
schedules them, and on a small virtual machine that costs a bot whose database runs in a thread
(aiosqlite) far more than it would in production, where Telegram is on another continent: each of
the dozen hand-offs to that thread in a unit of work then waits for the thread to be scheduled
(measured here, unpinned: 0.4-0.7 ms before the thread started on a statement's call).
``--no-pin`` measures without pinning.

The machine's speed drifts by tens of per cent within a minute on a shared virtual machine, so the
bots take turns, round after round (``--rounds``, default 3): the figures are medians over the
rounds, and the ratio is the median of each round's own ratio.

Run: ``python bench/updates.py`` (``--help`` for sizes).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine
from telegram import Update
from telegram.ext import Application, ContextTypes, MessageHandler, filters

from bot.app import build_application
from bot.context import Services
from bot.domain import words
from bot.domain.clock import SystemClock
from bot.infra.transport import AiohttpRequest
from bot.infra.updates import Poller
from bot.runner import ALLOWED_UPDATES, settle_heap
from bot.settings import Settings
from messages import default_catalog
from sandbox.server import SANDBOX_TOKEN, BotApiSandbox
from storage import migrate
from storage.db import Database, normalise_url
from tests.support.factories import seed_joined_participants

FIRST_USER = 500_000


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def seed_participants(db: Database, count: int) -> None:
    """Participants who have already joined, straight through the storage layer."""
    await seed_joined_participants(db, count, first_user=FIRST_USER)


@contextlib.asynccontextmanager
async def fresh_database(admin_url: str, users: int) -> AsyncIterator[str]:
    """A new PostgreSQL database, migrated and seeded with ``users`` participants; dropped after.

    Every run starts from an empty database, whatever earlier runs or test sessions left behind."""
    admin_url = normalise_url(admin_url)
    name = f"valitupa_bench_{secrets.token_hex(4)}"
    admin = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    db = Database(url)
    try:
        await migrate.upgrade(db)
        await seed_participants(db, users)
        await db.dispose()
        yield url
    finally:
        await db.dispose()
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


async def closed_loop(sandbox: BotApiSandbox, users: int, per_user: int) -> float:
    """Every participant sends ``per_user`` messages back to back; returns updates/s."""

    async def participant(index: int) -> None:
        user = sandbox.user(FIRST_USER + index, first_name=f"U{index}", language_code="fi")
        for number in range(per_user):
            await user.send_text(f"Havainto {number}: kirjastossa oli jonoa")
            await user.next_message(timeout=30)

    started = time.perf_counter()
    await asyncio.gather(*(participant(i) for i in range(users)))
    return users * per_user / (time.perf_counter() - started)


async def offered_load(sandbox: BotApiSandbox, users: int, rate: float, seconds: float) -> list[float]:
    """Messages at a fixed rate spread over participants; returns latencies in seconds."""
    total = int(rate * seconds)
    latencies: list[float] = []

    async def one(index: int) -> None:
        user = sandbox.user(FIRST_USER + index % users, first_name="U", language_code="fi")
        started = time.perf_counter()
        await user.send_text(f"Kuormaviesti {index}")
        await user.next_message(timeout=30)
        latencies.append(time.perf_counter() - started)

    tasks = []
    begin = time.perf_counter()
    for index in range(total):
        delay = begin + index / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(index)))
    await asyncio.gather(*tasks)
    return latencies


async def start_polling(application: Application) -> Poller | None:
    """Start a bot: the echo bots on PTB's updater, Välitupa on its inbox poller (as ``valitupa run``)."""
    await application.initialize()
    if application.post_init is not None:
        await application.post_init(application)
    await application.start()
    services = application.bot_data.get("services")
    if isinstance(services, Services) and services.updates is not None:
        poller = Poller(application, services.updates, allowed_updates=ALLOWED_UPDATES, timeout=1)
        await poller.start()
        await settle_heap()  # as valitupa run does once it has started
        return poller
    assert application.updater is not None
    await application.updater.start_polling(poll_interval=0.0, timeout=1, allowed_updates=ALLOWED_UPDATES)
    return None


async def stop_polling(application: Application, poller: Poller | None) -> None:
    if poller is not None:
        await poller.stop()
        services = application.bot_data["services"]
        assert services.updates is not None
        await services.updates.stop()
    else:
        assert application.updater is not None
        await application.updater.stop()
    await application.stop()
    await application.shutdown()
    if application.post_shutdown is not None:
        await application.post_shutdown(application)


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if update.effective_message is not None:
        await update.effective_message.reply_text(update.effective_message.text or "ok")


def echo_bot(*, aiohttp_transport: bool) -> Callable[[str], Awaitable[Application]]:
    """A bare PTB echo bot. The goal's baseline is PTB as installed (its stock httpx transport);
    the same bot on Välitupa's aiohttp transport (``bot/transport.py``) is measured for context."""

    async def build(url: str) -> Application:
        builder = (
            Application.builder()
            .token(SANDBOX_TOKEN)
            .base_url(f"{url}/bot")
            .base_file_url(f"{url}/file/bot")
            .concurrent_updates(64)
        )
        if aiohttp_transport:
            builder = builder.request(AiohttpRequest(128)).get_updates_request(AiohttpRequest(1))
        application = builder.build()
        application.add_handler(MessageHandler(filters.TEXT, echo))
        return application

    return build


def split_cpus() -> tuple[set[int], set[int]] | None:
    """The CPUs for the bot under test and for the Telegram side, or None when they cannot be split
    (not Linux, or a single CPU)."""
    if not hasattr(os, "sched_getaffinity"):
        return None
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None
    return set(cpus[:-1]), {cpus[-1]}


async def drive(users: int, per_user: int, rate: float, seconds: float, cpus: set[int] | None) -> None:
    """The Telegram side, in its own process: the sandbox and the simulated participants.

    Telegram never runs inside the bot's process, so neither does its stand-in: the bot under test
    gets the CPU to itself, as it would in production; with ``cpus``, the stand-in keeps to those.
    """
    if cpus:
        os.sched_setaffinity(0, cpus)
    sandbox = BotApiSandbox()
    await sandbox.start()
    print(sandbox.url, flush=True)
    await sandbox.wait_until(lambda: sandbox.stats["getUpdates"] > 0, timeout=60)
    await closed_loop(sandbox, users, 1)  # warm-up: connections, caches, first queries
    throughput = await closed_loop(sandbox, users, per_user)
    latencies = await offered_load(sandbox, users, rate, seconds)
    figures = {
        "updates_per_s": throughput,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
    }
    print(json.dumps(figures), flush=True)
    # Keep answering until the bot has stopped polling, so its shutdown is clean.
    await asyncio.to_thread(sys.stdin.readline)
    await sandbox.stop()


async def measure(
    make: Callable[[str], Awaitable[Application]],
    args: argparse.Namespace,
) -> dict[str, float]:
    """Start the Telegram side in a subprocess, run one bot against it, return its figures."""
    driver = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--drive",
        "--drive-cpus",
        ",".join(str(cpu) for cpu in sorted(args.telegram_cpus)),
        "--users",
        str(args.users),
        "--per-user",
        str(args.per_user),
        "--rate",
        str(args.rate),
        "--seconds",
        str(args.seconds),
        stdout=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.PIPE,
    )
    assert driver.stdout is not None
    url = (await driver.stdout.readline()).decode().strip()
    application = await make(url)
    poller = await start_polling(application)
    try:
        result = (await driver.stdout.readline()).decode()
    finally:
        await stop_polling(application, poller)
        await driver.communicate(b"\n")
    return dict(json.loads(result))


def summary(runs: list[dict[str, float]]) -> dict[str, float]:
    """One bot's figures over the rounds: the median of each."""
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=200, help="simulated participants")
    parser.add_argument("--per-user", type=int, default=8, help="messages per participant (throughput run)")
    parser.add_argument("--rate", type=float, default=100.0, help="offered updates per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the offered-load run")
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="rounds of the three bots one after another; figures are medians over the rounds",
    )
    parser.add_argument(
        "--database",
        default=None,
        help="a PostgreSQL server's URL: each run creates a new database there and drops it after "
        "(default: a temporary SQLite file)",
    )
    parser.add_argument(
        "--no-pin",
        action="store_true",
        help="leave the bot and the Telegram side to the kernel's scheduling instead of a CPU each",
    )
    parser.add_argument("--drive", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--drive-cpus", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.drive:
        cpus = {int(cpu) for cpu in args.drive_cpus.split(",") if cpu}
        await drive(args.users, args.per_user, args.rate, args.seconds, cpus)
        return

    split = None if args.no_pin else split_cpus()
    if split is not None:
        # Before any thread starts: the bot's threads (aiosqlite's among them) inherit this.
        os.sched_setaffinity(0, split[0])
    args.telegram_cpus = split[1] if split is not None else set()

    # Steady state: the bot loads its lemmatiser dictionaries once, in a worker thread at start-up
    # (seconds of CPU); load them before measuring, so no bot's figure pays for that one-off.
    await asyncio.to_thread(words.preload)

    async def valitupa_run() -> dict[str, float]:
        """Välitupa on a database of its own: a new SQLite file, or a new PostgreSQL database."""
        async with contextlib.AsyncExitStack() as stack:
            if args.database:
                url = await stack.enter_async_context(fresh_database(args.database, args.users))
            else:
                tmp = stack.enter_context(tempfile.TemporaryDirectory())
                url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
                db = Database(url)
                await migrate.upgrade(db)
                await seed_participants(db, args.users)
                await db.dispose()

            async def valitupa(api_url: str) -> Application:
                settings = Settings(bot_token=SANDBOX_TOKEN, telegram_api_url=api_url, _env_file=None)  # type: ignore[arg-type,call-arg]
                services = Services(
                    settings=settings, db=Database(url), clock=SystemClock(), catalog=default_catalog()
                )
                return build_application(services)

            return await measure(valitupa, args)

    # The machine's speed drifts by tens of per cent within a minute (a shared virtual machine), so
    # the bots take turns, round after round, and the ratio is the median of each round's own ratio:
    # a slow stretch then falls on all three bots alike instead of on one of them.
    echo: list[dict[str, float]] = []
    echo_same_transport: list[dict[str, float]] = []
    ours: list[dict[str, float]] = []
    for _ in range(max(1, args.rounds)):
        echo.append(await measure(echo_bot(aiohttp_transport=False), args))
        echo_same_transport.append(await measure(echo_bot(aiohttp_transport=True), args))
        ours.append(await valitupa_run())

    print(
        f"updates: {args.users} participants, {args.per_user} messages each; offered {args.rate:g}/s "
        f"for {args.seconds:g} s; {len(ours)} rounds, medians; "
        + (
            f"bot on CPU {','.join(map(str, sorted(split[0])))}, Telegram side on CPU "
            f"{','.join(map(str, sorted(split[1])))}"
            if split is not None
            else "not pinned"
        )
    )
    rows = (
        ("echo, PTB as installed (httpx)", summary(echo)),
        ("echo, PTB on aiohttp transport", summary(echo_same_transport)),
        ("Välitupa (aiohttp transport)", summary(ours)),
    )
    print(f"{'bot':<34}{'updates/s':>10}{'p50 ms':>9}{'p99 ms':>9}")
    for name, figures in rows:
        print(
            f"{name:<34}{figures['updates_per_s']:>10.0f}{figures['p50_ms']:>9.1f}{figures['p99_ms']:>9.1f}"
        )
    ratios = [
        mine["updates_per_s"] / theirs["updates_per_s"] for mine, theirs in zip(ours, echo, strict=True)
    ]
    same = [
        mine["updates_per_s"] / theirs["updates_per_s"]
        for mine, theirs in zip(ours, echo_same_transport, strict=True)
    ]
    print("rounds, Välitupa/echo: " + ", ".join(f"{ratio:.2f}" for ratio in ratios))
    print(
        f"throughput ratio Välitupa/echo: {statistics.median(ratios):.2f} (goal ≥ 0.5); "
        f"against the echo bot on the same transport: {statistics.median(same):.2f}; "
        f"p99 at {args.rate:g}/s: {summary(ours)['p99_ms']:.1f} ms (goal ≤ 100)"
    )


if __name__ == "__main__":
    asyncio.run(main())
