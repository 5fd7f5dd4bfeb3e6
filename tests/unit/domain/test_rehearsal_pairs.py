"""The pair rounds in the rehearsal: introductions when the pair-rounds duty would send them, and
no highlights in a phase where the participant met another organisation through a pair."""

from __future__ import annotations

from datetime import date, time
from zoneinfo import ZoneInfo

from bot.domain.pairing import round_due
from bot.domain.programme import ProcessSpec, parse_process
from bot.domain.rehearsal import Persona, default_personas, rehearse, spec_policy
from tests.support.factories import DEFAULT_ORGANISATIONS, THURSDAYS, process_yaml

HELSINKI = ZoneInfo("Europe/Helsinki")
SILENT = Persona("hiljainen", "Ilomantsin kunta", "employee", answers=False)
PAIRED = Persona("hiljainen parissa", "Kyläyhdistys", "employee", answers=False, pairs=True)
PARTNER = Persona("vastaaja parissa", "Ilomantsin kunta", "management", pairs=True)


def spec_of(organisations: tuple[str, ...] = DEFAULT_ORGANISATIONS) -> ProcessSpec:
    return parse_process(process_yaml(workshops=THURSDAYS, calendar="", organisations=organisations))


def test_introductions_go_out_when_the_pair_duty_sends_them_and_replace_the_highlights() -> None:
    spec = spec_of()
    policy = spec_policy(spec)
    entries = rehearse(spec, [SILENT, PAIRED, PARTNER])
    pairs = [e for e in entries if e.kind == "pair"]
    for persona in (PAIRED, PARTNER):
        mine = [e for e in pairs if e.persona == persona]
        # The duty's own timing: the start of the second open day after each workshop.
        assert [e.at for e in mine] == [round_due(w.at_utc, policy) for w in spec.workshops]
        assert [e.prompt_id for e in mine] == [f"pair-w{n}" for n in range(1, 6)]
        assert {e.prompt_kind for e in mine} == {"introduction"}
    days = [e.at.astimezone(HELSINKI).date() for e in pairs if e.persona == PAIRED]
    # After Thursday 2.4.2026 come Good Friday, the weekend and Easter Monday: Tuesday is the first
    # open day, Wednesday the second.
    assert days[2] == date(2026, 4, 8)
    assert all(e.at.astimezone(HELSINKI).time() == time(8) for e in pairs)

    def highlights(persona: Persona) -> list[str | None]:
        return [e.prompt_id for e in entries if e.persona == persona and e.kind == "highlights"]

    assert highlights(SILENT) == [f"p{n}-highlights" for n in range(1, 5)]
    assert highlights(PAIRED) == highlights(PARTNER) == []
    assert not [e for e in pairs if e.persona == SILENT]


def test_an_opted_in_participant_nobody_could_be_paired_with_is_told_once_and_gets_the_highlights() -> None:
    spec = spec_of()
    alone = Persona("yksin", "Kyläyhdistys", "employee", answers=False, pairs=True)
    also = Persona("samasta", "Kyläyhdistys", "management", pairs=True)
    entries = rehearse(spec, [alone, also])
    told = [e for e in entries if e.kind == "pair"]
    assert [(e.persona, e.prompt_kind, e.prompt_id) for e in told] == [
        (alone, "unpaired", "pair-w1"),
        (also, "unpaired", "pair-w1"),
    ]
    assert [e.prompt_id for e in entries if e.persona == alone and e.kind == "highlights"] == [
        f"p{n}-highlights" for n in range(1, 5)
    ]


def test_the_default_personas_pair_a_silent_one_with_an_answering_one_of_another_organisation() -> None:
    spec = spec_of()
    roles = [("management", "johto"), ("employee", "työntekijä")]
    people = default_personas(spec, roles, silent_label="s", facilitator_label="f", paired_label="p")
    opted = [p for p in people if p.pairs]
    assert [(p.label, p.answers, p.organisation) for p in opted] == [
        ("p", False, spec.organisations[-1]),
        (f"{spec.organisations[0]} · johto", True, spec.organisations[0]),
    ]
    assert len(people) == len(spec.organisations) * len(roles) + 3
    few = default_personas(spec, roles, silent_label="s", facilitator_label="f", paired_label="p", count=3)
    assert [p.label for p in few] == ["s", "p", f"{spec.organisations[0]} · johto", "f"]
    assert [p.label for p in few if p.pairs] == ["p", f"{spec.organisations[0]} · johto"]
    # With a single organisation nobody could be paired, so no one is shown pairing.
    single = spec_of(("Ilomantsin kunta",))
    alone = default_personas(single, roles, silent_label="s", facilitator_label="f", paired_label="p")
    assert [p.label for p in alone] == ["s", "Ilomantsin kunta · johto", "Ilomantsin kunta · työntekijä", "f"]
