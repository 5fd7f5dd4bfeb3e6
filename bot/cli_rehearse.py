"""``valitupa rehearse FILE.yaml``: the whole process played on a virtual clock before launch.

Reads the process file with the parser the bot uses, rehearses it (:mod:`bot.domain.rehearsal`:
the bot's planner, delivery policy and reminder rule) for personas across its organisations and
roles, and prints the timeline as JSON, a week-by-week text calendar or a printable HTML page.
Touches no database and sends nothing.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from bot.domain.programme import ProcessFileError, ProcessSpec, parse_process
from bot.domain.rehearsal import Entry, Persona, default_personas, rehearse, spec_policy
from bot.render.rehearsal import calendar_html, calendar_text, calendar_view, persona_labels, timeline_json
from bot.services.people import ROLES
from messages import Catalog, default_catalog

__all__ = ["personas_for", "rehearse_cli", "render"]

FORMATS = ("text", "json", "html")
EXIT_EXISTS = 3
"""As ``valitupa digest`` and ``export``: nothing on disk is overwritten without ``--force``."""
MAX_PARTICIPANTS = 100_000


def personas_for(spec: ProcessSpec, catalog: Catalog, count: int | None = None) -> list[Persona]:
    """The default personas in the process language: organisation × role, one silent, one silent
    who is paired (with the first answering one), a facilitator."""
    lang = spec.language
    roles = [(code, catalog.plain(lang, f"role.{code}").lower()) for code in ROLES]
    silent, facilitator = persona_labels(catalog, lang, spec.organisations[0], roles[0][0])
    paired = catalog.plain(
        lang, "rehearsal.persona.paired", organisation=spec.organisations[-1], role=roles[0][1]
    )
    return default_personas(
        spec, roles, silent_label=silent, facilitator_label=facilitator, paired_label=paired, count=count
    )


def render(
    spec: ProcessSpec, entries: list[Entry], personas: list[Persona], fmt: str, catalog: Catalog
) -> str:
    if fmt == "json":
        return json.dumps(timeline_json(entries, spec_policy(spec).tz), ensure_ascii=False, indent=1) + "\n"
    view = calendar_view(catalog, spec.language, spec, entries, personas)
    return calendar_html(view, spec.language) if fmt == "html" else calendar_text(view)


def rehearse_cli(
    file: Path, *, participants: int | None, fmt: str, out: Path | None, force: bool = False
) -> int:
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        print(f"Cannot read {file}: {error}", file=sys.stderr)
        return 1
    try:
        spec = parse_process(text, source=str(file))
    except ProcessFileError as error:
        print(f"{file} cannot be rehearsed:\n{error}", file=sys.stderr)
        return 1
    if out is not None and out.exists() and (out.is_dir() or not force):
        print(f"{out} already exists; add --force to overwrite it, or choose another name.", file=sys.stderr)
        return EXIT_EXISTS
    if participants is not None and not 1 <= participants <= MAX_PARTICIPANTS:
        print(f"--participants must be 1 … {MAX_PARTICIPANTS}", file=sys.stderr)
        return 2
    catalog = default_catalog()
    personas = personas_for(spec, catalog, participants)
    result = render(spec, rehearse(spec, personas), personas, fmt, catalog)
    if out is None:
        sys.stdout.write(result)
    else:
        out.write_text(result, encoding="utf-8")
        print(f"Wrote {out}", file=sys.stderr)
    return 0
