"""Updates per second and latency through the webhook path, against long polling, on PostgreSQL.

A load generator plays Telegram: it POSTs observation updates from many simulated participants to
Välitupa's webhook with an aiohttp client (the secret header included; at most ``--concurrency``
updates in flight; each participant's updates one after another, as Telegram delivers one chat's
updates in order) and times each from the POST to the acknowledgement arriving in the participant's
chat at the Bot API sandbox. Every row uses a fresh PostgreSQL database with the same participants.

* polling, 1 instance: ``bench/updates.py``'s measurement (the Application long-polls the sandbox,
  whose simulated participants run in a process of their own);
* webhook, 1 and 2 instances: ``valitupa run`` processes on one database, the sandbox and the
  generator in this process (so, as for polling, Telegram's side never shares the bot's process),
  spreading updates over the instances round-robin as a load balancer would.

Two loads per row, as in ``bench/updates.py``: a closed loop (every participant sends its messages
back to back; updates/s) and an offered load (a fixed rate; p50/p99 latency).

Run: ``python bench/webhook.py`` (``--help`` for sizes; ``--postgres URL`` for the server).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import secrets
import socket
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp
from telegram.ext import Application

from bench.updates import FIRST_USER, fresh_database, measure, percentile
from bot.settings import Settings
from sandbox.server import SANDBOX_TOKEN, BotApiSandbox
from storage.db import Database

ROOT = Path(__file__).resolve().parents[1]
SECRET = "bench_" + secrets.token_hex(16)
PATH = "/telegram/bench"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Generator:
    """Telegram's side of the webhook: builds observation updates and POSTs them."""

    def __init__(self, sandbox: BotApiSandbox, urls: list[str], concurrency: int) -> None:
        self.sandbox = sandbox
        self.urls = itertools.cycle(urls)
        self.slots = asyncio.Semaphore(concurrency)
        self.update_ids = itertools.count(50_000_000)
        self.message_ids = itertools.count(1_000_000)
        self.session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Generator:
        connector = aiohttp.TCPConnector(limit=0)
        self.session = aiohttp.ClientSession(connector=connector)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.session is not None
        await self.session.close()

    def body(self, user: Any, text_: str) -> dict[str, Any]:
        message = {
            "message_id": next(self.message_ids),
            "from": user.user,
            "chat": user.log.chat,
            "date": int(time.time()),
            "text": text_,
        }
        return {"update_id": next(self.update_ids), "message": message}

    async def send(self, user: Any, text_: str) -> float:
        """One observation, POST to acknowledgement; returns seconds."""
        assert self.session is not None
        async with self.slots:
            started = time.perf_counter()
            async with self.session.post(
                next(self.urls), json=self.body(user, text_), headers={SECRET_HEADER: SECRET}
            ) as response:
                if response.status != 200:
                    raise RuntimeError(f"webhook answered {response.status}")
            await user.next_message(timeout=60)
            return time.perf_counter() - started

    async def closed_loop(self, users: int, per_user: int) -> float:
        async def participant(index: int) -> None:
            user = self.sandbox.user(FIRST_USER + index, first_name=f"U{index}", language_code="fi")
            for number in range(per_user):
                await self.send(user, f"Havainto {number}: kirjastossa oli jonoa")

        started = time.perf_counter()
        await asyncio.gather(*(participant(i) for i in range(users)))
        return users * per_user / (time.perf_counter() - started)

    async def offered_load(self, users: int, rate: float, seconds: float) -> list[float]:
        # One chat's updates go one at a time, as Telegram sends them: a lock per participant.
        locks = [asyncio.Lock() for _ in range(users)]
        latencies: list[float] = []

        async def one(index: int) -> None:
            user = self.sandbox.user(FIRST_USER + index % users, first_name="U", language_code="fi")
            async with locks[index % users]:
                latencies.append(await self.send(user, f"Kuormaviesti {index}"))

        tasks = []
        begin = time.perf_counter()
        for index in range(int(rate * seconds)):
            delay = begin + index / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(index)))
        await asyncio.gather(*tasks)
        return latencies


def figures(throughput: float, latencies: list[float]) -> dict[str, float]:
    return {
        "updates_per_s": throughput,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
    }


async def run_load(sandbox: BotApiSandbox, urls: list[str], args: argparse.Namespace) -> dict[str, float]:
    async with Generator(sandbox, urls, args.concurrency) as generator:
        await generator.closed_loop(args.users, 1)  # warm-up: connections, caches, first queries
        throughput = await generator.closed_loop(args.users, args.per_user)
        latencies = await generator.offered_load(args.users, args.rate, args.seconds)
    return figures(throughput, latencies)


async def wait_healthy(session: aiohttp.ClientSession, url: str, process: asyncio.subprocess.Process) -> None:
    for _ in range(300):
        if process.returncode is not None:
            raise RuntimeError(f"an instance exited with {process.returncode}")
        with contextlib.suppress(aiohttp.ClientError):
            async with session.get(f"{url}/healthz") as response:
                if response.status == 200:
                    return
        await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not become healthy")


async def webhook_processes(admin_url: str, count: int, args: argparse.Namespace) -> dict[str, float]:
    async with fresh_database(admin_url, args.users) as url:
        sandbox = BotApiSandbox()
        await sandbox.start()
        ports = [free_port() for _ in range(count)]
        processes = []
        try:
            for index, port in enumerate(ports):
                env = {
                    "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                    "PYTHONPATH": str(ROOT),
                    "BOT_TOKEN": SANDBOX_TOKEN,
                    "TELEGRAM_API_URL": sandbox.url,
                    "DATABASE_URL": url,
                    # Telegram posts to one public URL; the proxy spreads it over the instances.
                    "WEBHOOK_URL": f"http://127.0.0.1:{ports[0]}{PATH}",
                    "WEBHOOK_SECRET": SECRET,
                    "LISTEN_HOST": "127.0.0.1",
                    "LISTEN_PORT": str(port),
                    "INSTANCE_NAME": f"bench-{index}",
                    "LOG_LEVEL": "WARNING",
                }
                processes.append(
                    await asyncio.create_subprocess_exec(
                        sys.executable,
                        "-m",
                        "bot.cli",
                        "run",
                        env=env,
                        cwd=ROOT,
                        stdin=asyncio.subprocess.DEVNULL,
                        stdout=asyncio.subprocess.DEVNULL,
                        stderr=asyncio.subprocess.DEVNULL,
                    )
                )
            async with aiohttp.ClientSession() as session:
                for port, process in zip(ports, processes, strict=True):
                    await wait_healthy(session, f"http://127.0.0.1:{port}", process)
            return await run_load(sandbox, [f"http://127.0.0.1:{port}{PATH}" for port in ports], args)
        finally:
            for process in processes:
                if process.returncode is None:
                    process.terminate()
            for process in processes:
                await process.wait()
            await sandbox.stop()


async def polling_in_process(admin_url: str, args: argparse.Namespace) -> dict[str, float]:
    """bench/updates.py's measurement of the polling Application, on a fresh PostgreSQL database."""
    async with fresh_database(admin_url, args.users) as url:

        async def valitupa(api_url: str) -> Application:
            from bot.app import build_application
            from bot.runner import make_services

            settings = Settings(bot_token=SANDBOX_TOKEN, telegram_api_url=api_url, _env_file=None)  # type: ignore[arg-type,call-arg]
            return build_application(make_services(settings, Database(url)))

        return await measure(valitupa, args)


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=200, help="simulated participants")
    parser.add_argument("--per-user", type=int, default=5, help="messages per participant (closed loop)")
    parser.add_argument("--rate", type=float, default=100.0, help="offered updates per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the offered-load run")
    parser.add_argument("--concurrency", type=int, default=64, help="webhook requests in flight at most")
    parser.add_argument(
        "--postgres",
        default=os.environ.get("VALITUPA_TEST_POSTGRES", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"),
        help="a PostgreSQL URL whose user may create databases",
    )
    args = parser.parse_args()

    rows: list[tuple[str, Callable[[], Awaitable[dict[str, float]]]]] = [
        ("polling, 1 instance", lambda: polling_in_process(args.postgres, args)),
        ("webhook, 1 instance", lambda: webhook_processes(args.postgres, 1, args)),
        ("webhook, 2 instances", lambda: webhook_processes(args.postgres, 2, args)),
    ]
    load_before = os.getloadavg()[0]
    results = []
    for name, run in rows:
        results.append((name, await run()))
        print(f"measured: {name}", file=sys.stderr)

    print(
        f"webhook vs polling on PostgreSQL: {args.users} participants × {args.per_user} observations (closed loop, "
        f"≤{args.concurrency} in flight); offered {args.rate:g}/s for {args.seconds:g} s; {os.cpu_count()} cores"
    )
    # Other work on the machine skews every row; the 1-minute load average says how much there was.
    print(f"load average before {load_before:.2f}, after {os.getloadavg()[0]:.2f}")
    print(f"{'path':<38}{'updates/s':>11}{'p50 ms':>9}{'p99 ms':>9}")
    for name, result in results:
        print(f"{name:<38}{result['updates_per_s']:>11.0f}{result['p50_ms']:>9.1f}{result['p99_ms']:>9.1f}")


if __name__ == "__main__":
    asyncio.run(main())
