"""One prompt edited in a form (the room's programme view), judged exactly as an uploaded file is.

The stored programme is written out as a process file with the edited prompt's texts, time and
reminder replaced by what the facilitator typed, and that file goes through :func:`parse_process`
like any upload: the same checks, the same problem messages. Problems are then sorted to the form's
fields (``text.fi``, ``when``, ``remind_after``); anything else (say, the new time collides with the
end of the process in another field's terms) is listed for the form as a whole.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bot.domain.programme.dump import dump_process
from bot.domain.programme.parse import parse_process
from bot.domain.programme.spec import FileProblem, ProcessFileError, ProcessSpec
from messages import LANGUAGES, Catalog

__all__ = ["FIELDS", "EditProblems", "PromptEdit", "edit_prompt"]

FIELDS: tuple[str, ...] = (*(f"text.{lang}" for lang in LANGUAGES), "when", "remind_after")


@dataclass(frozen=True)
class PromptEdit:
    prompt_id: str
    texts: Mapping[str, str]
    when: str
    remind_after: str
    """Empty for no reminder."""


@dataclass(frozen=True)
class EditProblems:
    by_field: Mapping[str, tuple[FileProblem, ...]]
    general: tuple[FileProblem, ...]


def _form_field(problem: FileProblem, prefix: str) -> str | None:
    if not problem.field.startswith(prefix):
        return None
    rest = problem.field[len(prefix) :]
    if rest in FIELDS:
        return rest
    return "text.fi" if rest == "text" else None


def edit_prompt(
    spec: ProcessSpec, edit: PromptEdit, *, catalog: Catalog | None = None
) -> tuple[ProcessSpec, str] | EditProblems:
    """The new spec and the process file to store, or the problems sorted by form field.

    Raises ``KeyError`` when the spec has no prompt ``edit.prompt_id``."""
    index = next(number for number, prompt in enumerate(spec.prompts, start=1) if prompt.id == edit.prompt_id)
    values = {
        "when": edit.when.strip(),
        "text": {lang: edit.texts.get(lang, "") for lang in LANGUAGES},
        "remind_after": edit.remind_after.strip() or "none",
    }
    text = dump_process(spec, catalog=catalog, replacing={edit.prompt_id: values})
    try:
        return parse_process(text, source=spec.name), text
    except ProcessFileError as error:
        prefix = f"prompts[{index}]."
        by_field: dict[str, list[FileProblem]] = {}
        general: list[FileProblem] = []
        for problem in error.problems:
            field = _form_field(problem, prefix)
            if field is None:
                general.append(problem)
            else:
                by_field.setdefault(field, []).append(problem)
        return EditProblems({key: tuple(items) for key, items in by_field.items()}, tuple(general))
