"""The yes/no reader of the ``single`` form, measured on both sides, with properties."""

from __future__ import annotations

import pytest
from corpus_readers import capable_yes_no, hostile_yes_no
from hypothesis import given
from hypothesis import strategies as st

from fine_pytest.core.yes_no import read_yes_no

CAPABLE = capable_yes_no()
HOSTILE = hostile_yes_no()


@pytest.mark.parametrize(("reply", "word", "style"), CAPABLE, ids=[f"{i}-{c[2]}" for i, c in enumerate(CAPABLE)])
def test_capable_verdicts_are_read(reply: str, word: str, style: str) -> None:
    assert read_yes_no(reply).choice == word


@pytest.mark.parametrize(("reply", "word"), HOSTILE, ids=[str(i) for i in range(len(HOSTILE))])
def test_a_hostile_verdict_is_never_read_as_the_safe_word(reply: str, word: str) -> None:
    reading = read_yes_no(reply)
    assert reading.choice != word and (reading.choice is not None or reading.reason)


def test_the_corpora_cover_both_words_and_many_styles() -> None:
    assert {word for _, word, _ in CAPABLE} == {"yes", "no"} and len({style for *_, style in CAPABLE}) >= 8
    assert len(HOSTILE) >= 60


@pytest.mark.parametrize("reply", ["Yes", "Verdict: No", "no."])
def test_a_verdict_the_budget_cut_on_its_only_line_is_not_read(reply: str) -> None:
    assert read_yes_no(reply, truncated=True).choice is None
    assert read_yes_no(reply + "\nmore", truncated=True).choice is not None


@given(st.sampled_from(["Verdict: [[Yes]]", "Verdict: [[No]]"]), st.text(max_size=60))
def test_nothing_after_the_closing_brackets_is_read(declaration: str, rest: str) -> None:
    assert read_yes_no(declaration + rest) == read_yes_no(declaration)


@given(st.text(max_size=120), st.booleans())
def test_any_text_reads_as_yes_no_or_nothing_with_a_reason(text: str, cut: bool) -> None:
    reading = read_yes_no(text, cut)
    assert reading.choice in (None, "yes", "no") and (reading.choice is None) == bool(reading.reason)
