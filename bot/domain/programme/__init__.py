"""The process file: a facilitator's YAML description of a process and its programme.

:func:`parse_process` reads and validates a process file (from ``valitupa process create FILE.yaml``
or uploaded in chat) into a frozen :class:`ProcessSpec`, or raises :class:`ProcessFileError` listing
*every* problem with its line and field, so a facilitator fixes the file in one go.
:func:`dump_process` writes a spec back as YAML with the whole programme expanded, for editing.

Rules worth knowing when writing a file (also in the README):

* Workshop times, ``end`` and quiet hours are local to ``timezone``; all computed instants are UTC.
* ``programme: default`` starts from the ship-with programme (``messages/default_programme.yaml``);
  ``prompts`` then replace default prompts with the same id and add new ones.
* A prompt may be due from two weeks before workshop 1 (a welcome or pre-W1 reminder) until the end
  of the process; outside that window is an error for your own prompts. A *default* prompt that falls
  outside it (say, a short follow-up period) is left out and named in ``ProcessSpec.omitted_defaults``.
* Without ``closes_after`` a prompt stays open until its phase ends (the next workshop, or the end of
  the process for phase 5), and a reminder until the workshop it announces (the next anchor after
  it); no prompt stays open past the end of the process.
* Field paths in problems count list items from 1: ``workshops[2]`` is workshop 2.
"""

from bot.domain.process import PLACEHOLDERS
from bot.domain.programme.dump import dump_process
from bot.domain.programme.parse import parse_process
from bot.domain.programme.prompts import DEFAULT_PROGRAMME_PATH
from bot.domain.programme.spec import (
    ERROR_PARAMS,
    KINDS,
    FileProblem,
    ProcessFileError,
    ProcessSpec,
    PromptSpec,
    WorkshopSpec,
    problem_text,
)

__all__ = [
    "DEFAULT_PROGRAMME_PATH",
    "ERROR_PARAMS",
    "KINDS",
    "PLACEHOLDERS",
    "FileProblem",
    "ProcessFileError",
    "ProcessSpec",
    "PromptSpec",
    "WorkshopSpec",
    "dump_process",
    "parse_process",
    "problem_text",
]
