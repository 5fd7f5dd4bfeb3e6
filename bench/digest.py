"""How long a digest and an export take, and how much memory, for 1k, 10k and 100k submissions.

Each size gets its own SQLite file (WAL), filled with bulk inserts: 120 participants in three
organisations and six roles, twelve weeks of generated Finnish and Swedish observations (some with
media, some anonymous, a few hidden), answers and check-ins, ideas with supports, experiment logs.
Then, in a fresh Python process per size (so nothing is shared between sizes):

* warm-up: a running bot has loaded the lemmatisation dictionaries, matplotlib's fonts, the texts
  and the locale data once, long before a digest; a digest of the last minute does that here, and
  is reported apart (time and resident memory);
* digest: build the digest for the whole twelve weeks, render the Telegram summary in Finnish, the
  chart and the HTML document — timed, then run again under ``tracemalloc`` for its peak memory
  (the per-word lemma cache is cleared between, so both runs lemmatise from scratch);
* export: write the XLSX, six CSVs and the JSON — timed, then again under ``tracemalloc``.

The figures, and how each grows per 10× data, are printed as a table (``--json`` for a JSON line).
Goal: 100k submissions digested in under 2 s (aim: 1 s) with under 300 MB, exported in under 10 s;
growth no worse than linear.

``--baseline DIR`` measures another checkout of the project (say ``git worktree add /tmp/base
HEAD~3``) on the same files, alternating with this one ``--repeat`` times, and prints both (best of
each): on a shared machine only figures taken side by side compare.

Run: ``python bench/digest.py`` (``--sizes 1000 10000`` for a quicker run).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.domain.words import lemma, preload
from bot.render.chart import participation_chart
from bot.render.digest_html import html_document
from bot.render.digest_telegram import telegram_messages
from bot.render.labels import Labels
from bot.services.digest import build_digest
from bot.services.export import write_export
from messages import default_catalog
from storage import migrate
from storage.db import Database
from tests.support.seed import PERIOD_END, seed_bulk

WEEKS = 12
MB = 1024 * 1024


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def seed(path: Path, submissions: int) -> float:
    started = time.perf_counter()
    db = Database(f"sqlite+aiosqlite:///{path}")
    try:
        await migrate.upgrade(db)
        await seed_bulk(db, submissions=submissions, weeks=WEEKS)
    finally:
        await db.dispose()
    return time.perf_counter() - started


async def digest_once(db: Database, span: timedelta = timedelta(weeks=WEEKS + 1)) -> int:
    catalog = default_catalog()
    start = PERIOD_END - span
    digest = await build_digest(db, process_id=1, start=start, end=PERIOD_END, now=PERIOD_END)
    assert digest is not None
    messages = telegram_messages(digest, catalog, "fi", weekly=True)
    chart = participation_chart(digest.weekly, Labels(catalog, "fi", digest.tz))
    document = html_document(digest, catalog, "fi", chart_png=chart, weekly=True)
    return len(document) + sum(len(message) for message in messages)


async def export_once(db: Database, directory: Path) -> int:
    result = await write_export(db, process_id=1, directory=directory, now=PERIOD_END)
    assert result is not None
    return sum(result.rows.values())


async def measure(path: Path) -> dict[str, Any]:
    """One size, in this (fresh) process."""
    figures: dict[str, Any] = {}
    started = time.perf_counter()
    preload()  # what the bot does in a worker thread at start-up
    db = Database(f"sqlite+aiosqlite:///{path}")
    try:
        # A digest of the last minute: fonts, locale data, texts and compiled SQL, as a running bot has.
        await digest_once(db, timedelta(minutes=1))
        figures["warmup_s"] = time.perf_counter() - started
        figures["warmup_rss_mb"] = rss_mb()
        lemma.cache_clear()
        started = time.perf_counter()
        figures["digest_bytes"] = await digest_once(db)
        figures["digest_s"] = time.perf_counter() - started
        # The process's peak so far: loading plus the digest itself (before tracemalloc adds its own).
        figures["digest_rss_mb"] = rss_mb()
        lemma.cache_clear()
        tracemalloc.start()
        await digest_once(db)
        figures["digest_peak_mb"] = tracemalloc.get_traced_memory()[1] / MB
        tracemalloc.stop()

        with tempfile.TemporaryDirectory() as scratch:
            started = time.perf_counter()
            figures["export_rows"] = await export_once(db, Path(scratch) / "a")
            figures["export_s"] = time.perf_counter() - started
            tracemalloc.start()
            await export_once(db, Path(scratch) / "b")
            figures["export_peak_mb"] = tracemalloc.get_traced_memory()[1] / MB
            tracemalloc.stop()
            figures["export_mb_on_disk"] = await asyncio.to_thread(disk_mb, Path(scratch) / "a")
    finally:
        await db.dispose()
    figures["max_rss_mb"] = rss_mb()
    return figures


def disk_mb(directory: Path) -> float:
    return sum(path.stat().st_size for path in directory.iterdir()) / MB


def growth(rows: list[dict[str, Any]], key: str) -> list[str]:
    ratios = ["–"]
    for previous, current in itertools.pairwise(rows):
        ratios.append(f"{current[key] / previous[key]:.1f}×" if previous[key] else "–")
    return ratios


def measured(checkout: Path, path: Path) -> dict[str, Any]:
    """One fresh process of ``checkout``'s own bench measuring the file at ``path``."""
    child = subprocess.run(
        [sys.executable, str(checkout / "bench" / "digest.py"), "--measure", str(path)],
        check=True,
        capture_output=True,
        text=True,
        cwd=checkout,
        env={**os.environ, "PYTHONPATH": str(checkout)},
    )
    figures: dict[str, Any] = json.loads(child.stdout.strip().splitlines()[-1])
    return figures


def compare(baseline: Path, sizes: list[int], repeat: int) -> None:
    here = Path(__file__).resolve().parents[1]
    print(f"baseline {baseline} against {here}, best of {repeat}, alternating")
    print(f"{'submissions':>11}  {'digest s':>17}  {'export s':>17}  {'digest RSS MB':>13}")
    with tempfile.TemporaryDirectory(prefix="valitupa-bench-") as scratch:
        for size in sizes:
            path = Path(scratch) / f"digest-{size}.db"
            asyncio.run(seed(path, size))
            runs: dict[Path, list[dict[str, Any]]] = {baseline: [], here: []}
            for _ in range(repeat):
                for checkout in runs:
                    runs[checkout].append(measured(checkout, path))
            best = {
                checkout: {
                    key: min(run[key] for run in found) for key in ("digest_s", "export_s", "digest_rss_mb")
                }
                for checkout, found in runs.items()
            }
            old, new = best[baseline], best[here]
            print(
                f"{size:>11,}  {old['digest_s']:>7.2f} → {new['digest_s']:>7.2f}  "
                f"{old['export_s']:>7.2f} → {new['export_s']:>7.2f}  "
                f"{old['digest_rss_mb']:>5.0f} → {new['digest_rss_mb']:>5.0f}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--json", action="store_true", help="print one JSON line instead of a table")
    parser.add_argument("--baseline", type=Path, help="another checkout to measure side by side")
    parser.add_argument("--repeat", type=int, default=1, help="runs per checkout (best kept)")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure is not None:
        print(json.dumps(asyncio.run(measure(args.measure))))
        return
    if args.baseline is not None:
        compare(args.baseline.resolve(), args.sizes, args.repeat)
        return

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="valitupa-bench-") as scratch:
        for size in args.sizes:
            path = Path(scratch) / f"digest-{size}.db"
            seeded_in = asyncio.run(seed(path, size))
            child = subprocess.run(
                [sys.executable, str(Path(__file__).resolve()), "--measure", str(path)],
                check=True,
                capture_output=True,
                text=True,
            )
            figures = json.loads(child.stdout.strip().splitlines()[-1])
            rows.append({"submissions": size, "seed_s": seeded_in, **figures})
    if args.json:
        print(json.dumps(rows))
        return
    digest_growth, digest_memory = growth(rows, "digest_s"), growth(rows, "digest_peak_mb")
    export_growth, export_memory = growth(rows, "export_s"), growth(rows, "export_peak_mb")
    print(
        f"{'submissions':>11}  {'digest s':>8} {'×10':>5}  {'peak MB':>7} {'×10':>5}  "
        f"{'RSS MB':>6}  {'export s':>8} {'×10':>5}  {'peak MB':>7} {'×10':>5}  {'max RSS MB':>10}"
    )
    for index, row in enumerate(rows):
        print(
            f"{row['submissions']:>11,}  {row['digest_s']:>8.2f} {digest_growth[index]:>5}  "
            f"{row['digest_peak_mb']:>7.1f} {digest_memory[index]:>5}  {row['digest_rss_mb']:>6.0f}  "
            f"{row['export_s']:>8.2f} "
            f"{export_growth[index]:>5}  {row['export_peak_mb']:>7.1f} {export_memory[index]:>5}  "
            f"{row['max_rss_mb']:>10.0f}"
        )
    first = rows[0]
    print(
        f"\nOnce per bot process, not per digest: loading dictionaries, fonts and texts took "
        f"{first['warmup_s']:.1f} s ({first['warmup_rss_mb']:.0f} MB resident after it)."
    )
    print(
        "Digest: build + Telegram summary + chart + HTML for twelve weeks. Export: XLSX + 6 CSV + JSON. "
        "Peak = tracemalloc peak of that step; RSS = the process's peak resident memory after the "
        "digest (loading included); max RSS = the whole measuring process, export included."
    )
    last = rows[-1]
    met = last["digest_s"] < 2 and last["digest_rss_mb"] < 300 and last["export_s"] < 10
    print(
        f"Goal for {last['submissions']:,} submissions (digest under 2 s and 300 MB, export under 10 s): "
        f"{last['digest_s']:.2f} s, {last['digest_rss_mb']:.0f} MB, export {last['export_s']:.2f} s: "
        f"{'met' if met else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
