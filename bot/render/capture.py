"""What a participant reads after sending something: the acknowledgement of an observation."""

from __future__ import annotations

from bot.domain.process import ProcessFacts
from bot.domain.text import localized, shorten
from bot.render.prompt import prompt_snippet
from messages import Catalog
from storage.models import Prompt, Submission

SNIPPET = 60


def observation_ack(catalog: Catalog, lang: str, submission: Submission) -> str:
    key = "observation.saved_media" if submission.media_type else "observation.saved"
    text = catalog.t(lang, key, media=catalog.plain(lang, f"media.{submission.media_type or 'text'}"))
    if submission.theme:
        text += "\n" + catalog.t(
            lang, "observation.theme_is", theme=catalog.plain(lang, f"theme.{submission.theme}")
        )
    if submission.anonymous:
        text += "\n" + catalog.t(lang, "observation.is_anonymous")
    return text


def answered_prompt(
    catalog: Catalog, lang: str, prompt: Prompt, facts: ProcessFacts | None, limit: int = SNIPPET
) -> str:
    """The prompt a message answered, on one line with its placeholders filled (plain text)."""
    if facts is None:
        return shorten(localized(prompt.texts or {}, lang), limit)
    return prompt_snippet(catalog, lang, prompt, facts, limit)
