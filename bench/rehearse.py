"""How long ``valitupa rehearse`` takes for the default programme and 1,000 participants.

Parses a process file with the ship-with programme (Thursday workshops across Easter, vappu and
helatorstai), rehearses it for 1,000 personas through the bot's planner and delivery policy, and
renders the JSON timeline and the text calendar, each timed (best of three). Goal: under 5 s in all.

Run: ``python bench/rehearse.py`` (``--participants 5000`` for another size).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.cli_rehearse import personas_for, render
from bot.domain.programme import parse_process
from bot.domain.rehearsal import rehearse
from messages import default_catalog
from tests.support.factories import process_yaml

WORKSHOPS = (
    "2026-02-19 09:00",
    "2026-03-19 09:00",
    "2026-04-02 09:00",
    "2026-04-30 09:00",
    "2026-05-21 09:00",
)
GOAL_S = 5.0
T = TypeVar("T")


def best(runs: int, work: Callable[[], T]) -> tuple[float, T]:
    """The fastest of ``runs`` runs (seconds) and the last result."""
    times: list[float] = []
    for _ in range(runs):
        started = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - started)
    return min(times), result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    catalog = default_catalog()
    text = process_yaml(workshops=WORKSHOPS, calendar="")
    parse_s, spec = best(args.runs, lambda: parse_process(text))
    personas = personas_for(spec, catalog, args.participants)
    plan_s, entries = best(args.runs, lambda: rehearse(spec, personas))
    json_s, timeline = best(args.runs, lambda: render(spec, entries, personas, "json", catalog))
    text_s, _calendar = best(args.runs, lambda: render(spec, entries, personas, "text", catalog))
    total = parse_s + plan_s + json_s + text_s
    messages = len(json.loads(timeline))
    print(f"participants {args.participants}, messages {messages}, prompts {len(spec.prompts)}")
    print(f"parse {parse_s:.3f} s  rehearse {plan_s:.3f} s  json {json_s:.3f} s  text {text_s:.3f} s")
    print(f"total {total:.3f} s (goal < {GOAL_S:.0f} s): {'ok' if total < GOAL_S else 'TOO SLOW'}")
    return 0 if total < GOAL_S else 1


if __name__ == "__main__":
    sys.exit(main())
