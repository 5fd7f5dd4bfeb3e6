"""The digest as one self-contained HTML document: inline CSS, the chart as a data URI.

The page is the Jinja2 template ``templates/digest.html.j2`` with autoescape on, so every value
from the digest (names, organisations, quotes, idea fields, prompt texts) is escaped by the template;
catalogue texts are already HTML and reach it as :class:`markupsafe.Markup`. It reads on a phone and
prints on A4 (``templates/digest.css``).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from functools import cache

from jinja2 import Environment, PackageLoader, StrictUndefined, Template, select_autoescape
from markupsafe import Markup

from bot.domain.digest_model import MEDIA_ICONS, CheckinResult, Digest
from bot.render.labels import Labels, ref_label
from messages import Catalog

__all__ = ["html_document"]


class HtmlLabels(Labels):
    """:class:`Labels` for the template: catalogue texts marked as the HTML they already are."""

    def t(self, key: str, /, **params: object) -> str:
        return Markup(super().t(key, **params))  # noqa: S704 - the catalogue escapes its parameters

    def tn(self, key: str, count: int, /, **params: object) -> str:
        return Markup(super().tn(key, count, **params))  # noqa: S704 - the catalogue escapes its parameters

    def quote(self, text: str) -> str:
        return Markup(super().quote(text))  # noqa: S704 - the catalogue escapes its parameters

    def checkin_summary(self, checkin: CheckinResult) -> str:
        return Markup(super().checkin_summary(checkin))  # noqa: S704 - the catalogue escapes its parameters


@cache
def _template() -> Template:
    environment = Environment(
        loader=PackageLoader("bot.render", "templates"),
        autoescape=select_autoescape(["j2", "html"], default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    return environment.get_template("digest.html.j2")


def _refs(refs: Iterable[int]) -> str:
    return ", ".join(f"#{ref}" for ref in refs)


def _figures(digest: Digest, labels: Labels) -> tuple[tuple[str, str], ...]:
    """Each big number with its label, the label in the form that number needs ("12 havaintoa")."""
    part = digest.participation
    return (
        (
            f"{labels.number(part.active)}/{labels.number(part.participants)}",
            labels.tn("report.figure.active", part.active),
        ),
        (labels.number(part.new_joiners), labels.tn("report.figure.new_joiners", part.new_joiners)),
        (
            labels.number(digest.observation_count),
            labels.tn("report.figure.observations", digest.observation_count),
        ),
        (labels.number(digest.new_idea_count), labels.tn("report.figure.new_ideas", digest.new_idea_count)),
        (labels.number(digest.answer_count), labels.tn("report.figure.answers", digest.answer_count)),
        (
            labels.number(digest.experiment_count),
            labels.tn("report.figure.experiments", digest.experiment_count),
        ),
    )


def html_document(
    digest: Digest, catalog: Catalog, lang: str, *, chart_png: bytes | None = None, weekly: bool = False
) -> str:
    """The whole digest as one self-contained HTML page (inline CSS, chart as a data URI)."""
    labels = HtmlLabels(catalog, lang, digest.tz)
    chart_src = "data:image/png;base64," + base64.b64encode(chart_png).decode("ascii") if chart_png else None
    return _template().render(
        digest=digest,
        labels=labels,
        lang=lang,
        weekly=weekly,
        chart_src=chart_src,
        figures=_figures(digest, labels),
        media_icons=MEDIA_ICONS,
        ref_label=ref_label,
        refs=_refs,
    )
