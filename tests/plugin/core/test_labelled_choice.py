"""Options under other labels (the ``labels`` form) are read by the paper's grammar over those labels."""

from __future__ import annotations

import re

import pytest
from corpus_readers import capable_mc, hostile_mc
from hypothesis import given
from hypothesis import strategies as st

from fine_pytest.core.choice import parse_choice
from fine_pytest.core.form_wording import LABEL_SETS
from fine_pytest.core.labelled_choice import parse_labelled_choice

OTHER_LABELS = [labels for labels in LABEL_SETS if set(labels) != {"A", "B"}]


def renamed(text: str, labels: tuple[str, str]) -> str:
    """The paper's standalone letters written as these labels."""
    table = {"A": labels[0], "B": labels[1]}
    return re.sub(r"(?<![^\W\d_])[AB](?![^\W\d_])", lambda match: table[match.group()], text)


@pytest.mark.parametrize("labels", OTHER_LABELS)
def test_capable_answers_under_other_labels_read_as_their_label(labels: tuple[str, str]) -> None:
    for reply, letter, _ in capable_mc()[::5]:
        expected = parse_choice(reply)
        if expected is None or "Ａ" in reply or "Ｂ" in reply:
            continue
        assert parse_labelled_choice(renamed(reply, labels), labels) == labels["AB".index(letter)], reply


@pytest.mark.parametrize("labels", OTHER_LABELS)
def test_hostile_answers_under_other_labels_never_read_as_the_safe_label(labels: tuple[str, str]) -> None:
    for reply, safe, cut, _ in hostile_mc():
        assert parse_labelled_choice(renamed(reply, labels), labels, cut) != labels["AB".index(safe)], reply


@pytest.mark.parametrize("labels", [labels for labels in OTHER_LABELS if "A" not in labels and "B" not in labels])
def test_the_papers_letters_under_other_labels_name_no_label(labels: tuple[str, str]) -> None:
    for reply in ("Option: [[A]]", "B", "Answer: A", "I choose B."):
        assert parse_labelled_choice(reply, labels) is None


def test_reversed_letters_read_as_the_letter_written() -> None:
    assert parse_labelled_choice("Option: [[A]]", ("B", "A")) == "A"
    assert parse_labelled_choice("Option: [[B]]", ("B", "A")) == "B"


@given(st.text(alphabet="ABab12XYPQ[]()*_:. \n'Ａ", max_size=30), st.sampled_from(LABEL_SETS), st.booleans())
def test_any_text_reads_as_one_of_the_labels_or_none(reply: str, labels: tuple[str, str], truncated: bool) -> None:
    assert parse_labelled_choice(reply, labels, truncated) in (None, *labels)


@given(st.text(max_size=80), st.booleans())
def test_the_paper_labels_read_any_text_as_parse_choice(reply: str, truncated: bool) -> None:
    assert parse_labelled_choice(reply, ("A", "B"), truncated) == parse_choice(reply, truncated)
