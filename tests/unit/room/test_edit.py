"""A prompt edited in the room's form is judged by the same YAML check as an uploaded file."""

from __future__ import annotations

from bot.domain.programme import parse_process
from bot.domain.programme.edit import EditProblems, PromptEdit, edit_prompt
from tests.support.factories import process_yaml


def test_an_edit_gives_the_new_spec_and_a_file_that_reads_back_to_it() -> None:
    spec = parse_process(process_yaml())
    prompt = spec.prompts[2]
    edit = PromptEdit(prompt.id, {"fi": "Uusi", "sv": "Ny", "en": "New"}, "W1 +2d 10:00", "1d")
    result = edit_prompt(spec, edit)
    assert not isinstance(result, EditProblems)
    new_spec, text = result
    edited = new_spec.prompt(prompt.id)
    assert edited.texts == {"fi": "Uusi", "sv": "Ny", "en": "New"}
    assert edited.when.text == "W1 +2d 10:00"
    assert parse_process(text) == new_spec
    assert [p.id for p in new_spec.prompts if p.id != prompt.id] == [
        p.id for p in spec.prompts if p.id != prompt.id
    ]


def test_problems_are_sorted_to_the_form_fields_with_the_yaml_checks_codes() -> None:
    spec = parse_process(process_yaml())
    prompt = spec.prompts[2]
    edit = PromptEdit(prompt.id, {"fi": "Hei {bogus}", "sv": "", "en": "x"}, "W9 +1d", "-3d")
    result = edit_prompt(spec, edit)
    assert isinstance(result, EditProblems)
    codes = {field: [p.code for p in problems] for field, problems in result.by_field.items()}
    assert codes == {
        "text.fi": ["unknown_placeholder"],
        "text.sv": ["empty"],
        "when": ["unknown_anchor"],
        "remind_after": ["bad_duration"],
    }
    assert result.general == ()


def test_an_empty_reminder_means_none() -> None:
    spec = parse_process(process_yaml())
    prompt = next(p for p in spec.prompts if p.remind_after is not None)
    result = edit_prompt(spec, PromptEdit(prompt.id, prompt.texts, prompt.when.text, ""))
    assert not isinstance(result, EditProblems)
    assert result[0].prompt(prompt.id).remind_after is None
