"""How fast the facilitator's room answers: each API view for a process with 10,000 submissions on
SQLite, through the real web server and the initData check.

A SQLite file (WAL) is filled with :func:`tests.support.seed.seed_bulk` (120 participants, twelve
weeks of observations, answers, check-ins, ideas with supports, experiment logs) and a facilitator.
The bot's own web server (``bot.infra.web.WebServer`` with the room's routes) then serves it on a
local port, and every view is asked for ``--runs`` times over HTTP with a freshly signed
``Authorization: tma <initData>``: the median and the slowest are printed. Goal: every view under
200 ms. The digest view builds and renders the whole digest (the same HTML as the file) and is shown
apart, for the period the facilitator picks (30 days, and the whole process).

Run: ``python bench/room.py`` (``--submissions 10000 --runs 7``; ``--json`` for a JSON line).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp
import init_data_py

from bot.app import build_application
from bot.context import Services
from bot.domain.clock import FakeClock
from bot.infra.web import WebServer
from bot.settings import load_settings
from messages import default_catalog
from storage import migrate
from storage.db import Database
from storage.models import Membership, User
from tests.support.seed import PERIOD_END, seed_bulk

TOKEN = "123456:" + "B" * 35
FACILITATOR = 99_000_001
GOAL_MS = 200.0


async def add_facilitator(db: Database, process_id: int) -> None:
    async def work(session):
        session.add(
            User(id=FACILITATOR, consent="given", consent_at=PERIOD_END, language="fi", created_at=PERIOD_END)
        )
        await session.flush()
        membership = Membership(
            process_id=process_id,
            user_id=FACILITATOR,
            is_facilitator=True,
            pseudonym="F-1",
            joined_at=PERIOD_END,
        )
        session.add(membership)
        await session.flush()
        user = await session.get(User, FACILITATOR)
        user.active_membership_id = membership.id

    await db.run(work)


def views(process_id: int) -> list[tuple[str, str, dict | None]]:
    base = f"/app/api/p/{process_id}"
    return [
        ("me", "/app/api/me", None),
        ("overview", f"{base}/overview", None),
        ("items", f"{base}/items", None),
        ("items: ideas", f"{base}/items?kind=idea", None),
        ("items: search", f"{base}/items?q=kirjasto", None),
        ("items: group", f"{base}/items?group=0", None),
        ("items: phase 1, page 3", f"{base}/items?phase=1&offset=100", None),
        ("ideas to merge into", f"{base}/ideas", None),
        ("programme", f"{base}/programme", None),
        ("texts", "/app/api/texts/fi", None),
        ("digest: 30 days", f"{base}/digest?days=30", None),
        ("digest: whole process", f"{base}/digest", None),
    ]


async def measure(submissions: int, runs: int) -> list[dict]:
    with tempfile.TemporaryDirectory() as scratch:
        db = Database(f"sqlite+aiosqlite:///{Path(scratch) / 'room.db'}")
        await migrate.upgrade(db)
        process_id = await seed_bulk(db, submissions=submissions)
        await add_facilitator(db, process_id)
        clock = FakeClock(PERIOD_END + timedelta(hours=1))
        settings = load_settings(bot_token=TOKEN, _env_file=None)
        services = Services(
            settings=settings, db=db, clock=clock, catalog=default_catalog(), instance="bench"
        )
        server = WebServer(build_application(services), host="127.0.0.1", port=0)
        await server.start()
        results = []
        try:
            async with aiohttp.ClientSession() as http:
                for name, path, _ in views(process_id):
                    times = []
                    for _ in range(runs + 1):
                        data = init_data_py.sign(
                            {
                                "user": json.dumps(
                                    {"id": FACILITATOR, "first_name": "F", "language_code": "fi"}
                                )
                            },
                            TOKEN,
                            auth_date=clock.now(),
                        )
                        started = time.perf_counter()
                        async with http.get(
                            server.url + path, headers={"Authorization": f"tma {data}"}
                        ) as response:
                            await response.read()
                            assert response.status == 200, (name, response.status)
                        times.append((time.perf_counter() - started) * 1000)
                    times = times[1:]  # the first run warms caches (lemmas, fonts, locale data)
                    results.append(
                        {"view": name, "median_ms": statistics.median(times), "max_ms": max(times)}
                    )
        finally:
            await server.stop()
            await db.dispose()
        return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = asyncio.run(measure(args.submissions, args.runs))
    if args.json:
        print(json.dumps({"submissions": args.submissions, "views": results}))
        return
    print(f"The room's API views, {args.submissions:,} submissions on SQLite, {args.runs} runs each:")
    print(f"{'view':<26}{'median ms':>11}{'slowest ms':>12}  goal {GOAL_MS:.0f} ms")
    for row in results:
        mark = "" if row["view"].startswith("digest") else ("  ok" if row["max_ms"] < GOAL_MS else "  SLOW")
        print(f"{row['view']:<26}{row['median_ms']:>11.1f}{row['max_ms']:>12.1f}{mark}")


if __name__ == "__main__":
    main()
