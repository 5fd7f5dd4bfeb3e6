"""The day-after-workshop nudge to facilitators: "tell the participants what happened to what they
sent — /loop".

One facilitator prompt per workshop, kind ``loop_nudge``, due the day after the workshop at 08:00
local time (before the participants' reflection at 09:00) and open until the next workshop (the end
after workshop 5). The planner moves it out of quiet hours and closed days like any prompt, and the
dispatcher sends it to every reachable facilitator of the process. It is not part of the
programme file: every process gets it, in the texts of the ``calendar`` catalogue domain.
"""

from __future__ import annotations

from datetime import time
from zoneinfo import ZoneInfo

from bot.domain.programme.spec import ProcessSpec, PromptSpec
from bot.domain.timing import parse_when, resolve_when
from messages import LANGUAGES, Catalog, default_catalog

__all__ = ["FACILITATOR_KINDS", "LOOP_NUDGE", "LOOP_NUDGE_AT", "loop_nudge_prompts"]

LOOP_NUDGE = "loop_nudge"
FACILITATOR_KINDS: tuple[str, ...] = (LOOP_NUDGE,)
"""Prompt kinds planned for a process's facilitators, not its participants."""
LOOP_NUDGE_AT = time(8, 0)
_ORDER_BASE = 10_000
"""Positions after every programme prompt (a programme has at most a few hundred)."""


def loop_nudge_prompts(spec: ProcessSpec, catalog: Catalog | None = None) -> tuple[PromptSpec, ...]:
    """The five nudges of ``spec``, with aware UTC times like programme prompts."""
    catalog = catalog or default_catalog()
    anchors = {f"W{w.number}": w.at_utc for w in spec.workshops} | {"END": spec.end_at}
    tz = ZoneInfo(spec.timezone)
    nudges: list[PromptSpec] = []
    for workshop in spec.workshops:
        when = parse_when(f"W{workshop.number} +1d {LOOP_NUDGE_AT:%H:%M}")
        due = resolve_when(when, anchors, tz)
        following = [w.at_utc for w in spec.workshops if w.at_utc > workshop.at_utc]
        closes = min([*following, spec.end_at])
        if due >= closes:
            continue
        nudges.append(
            PromptSpec(
                id=f"loop-w{workshop.number}",
                phase=workshop.number,
                when=when,
                kind=LOOP_NUDGE,
                texts={
                    lang: catalog.plain(lang, "loop_nudge.text", number=workshop.number) for lang in LANGUAGES
                },
                options=(),
                remind_after=None,
                closes_after=None,
                order=_ORDER_BASE + workshop.number,
                due_at=due,
                closes_at=closes,
            )
        )
    return tuple(nudges)
