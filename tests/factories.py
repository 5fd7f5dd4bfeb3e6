"""Test data: process files and a seeded process, written the way a facilitator would write them."""

from __future__ import annotations

import textwrap

DEFAULT_ORGANISATIONS = ("Ilomantsin kunta", "Ilomantsin seurakunta", "Kyläyhdistys")


def process_yaml(
    *,
    name: str = "Hyvän tahdon Ilomantsi 2027",
    language: str = "fi",
    organisations: tuple[str, ...] = DEFAULT_ORGANISATIONS,
    workshops: tuple[str, ...] = (
        "2027-01-14 09:00",
        "2027-02-04 09:00",
        "2027-02-25 12:30",
        "2027-03-18 09:00",
        "2027-04-08 09:00",
    ),
    extra: str = "",
    programme: str | None = "default",
) -> str:
    orgs = "\n".join(f"  - {org}" for org in organisations)
    shops = "\n".join(f"  - {when}" for when in workshops)
    text = f"name: {name}\nlanguage: {language}\ntimezone: Europe/Helsinki\norganisations:\n{orgs}\nworkshops:\n{shops}\n"
    if programme:
        text += f"programme: {programme}\n"
    return text + textwrap.dedent(extra)
