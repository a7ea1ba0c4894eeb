"""The multiple-choice reader, measured on both sides: capable models' answers must be read, hostile ones must never
be read as the safe letter. Each reply goes through what the product does to it (the cut at the stop, then the
grammar). Properties beside the tables."""

from __future__ import annotations

import string

import pytest
from corpus_readers import OUTSIDE, UNREAD_SHAPES, capable_mc, hostile_mc, swap_letters
from hypothesis import given
from hypothesis import strategies as st

from fine_pytest.core.choice import BOTH_LABELS, read_choice, read_line
from fine_pytest.core.labelled_choice import parse_labelled_choice
from fine_pytest.core.reply_line import CUT_MID_LINE, THINK_AGAIN, THINK_UNCLOSED, declaration_line

CAPABLE = capable_mc()
HOSTILE = hostile_mc()


def test_the_capable_corpus_is_large_and_varied() -> None:
    assert len(CAPABLE) >= 500
    assert len({style for _, _, style in CAPABLE}) >= 15
    assert len({reply for reply, _, _ in CAPABLE}) == len(CAPABLE)
    assert {letter for _, letter, _ in CAPABLE} == {"A", "B"}


def test_capable_answers_are_read_as_a_careful_human_reads_them() -> None:
    """Target: at least 97% read, and not one wrong letter."""
    read = [read_choice(reply).choice for reply, _, _ in CAPABLE]
    wrong = [(reply, got) for (reply, letter, _), got in zip(CAPABLE, read, strict=True) if got not in (None, letter)]
    unread = [reply for (reply, _, _), got in zip(CAPABLE, read, strict=True) if got is None]
    assert wrong == []
    assert len(unread) / len(CAPABLE) <= 0.03, unread[:10]


@pytest.mark.parametrize(("reply", "letter", "style"), CAPABLE, ids=[f"{i}-{c[2]}" for i, c in enumerate(CAPABLE)])
def test_each_capable_answer(reply: str, letter: str, style: str) -> None:
    assert read_choice(reply).choice == (None if style == OUTSIDE else letter)


@pytest.mark.parametrize("shape", UNREAD_SHAPES)
@pytest.mark.parametrize("letter", ["A", "B"])
def test_shapes_outside_the_grammar_are_unread_never_wrong(shape: str, letter: str) -> None:
    """A preamble line, a heading line, a reason on the declaration's line, and a think block that writes the format
    (the stop ends generation inside it) are not read; docs/PROMPTS.md says so."""
    reading = read_choice(shape.format(x=letter))
    assert reading.choice is None and reading.reason


def test_the_hostile_corpus_is_large_and_covers_the_known_families() -> None:
    assert len(HOSTILE) >= 200
    families = {family for _, _, _, family in HOSTILE}
    assert {
        "self-correction, other language",
        "look-alike letter",
        "position word",
        "emoji",
        "inverted task",
        "negation",
        "both letters",
        "think trap",
        "cut by the budget",
    } <= families


@pytest.mark.parametrize(
    ("reply", "safe", "cut", "family"), HOSTILE, ids=[f"{i}-{c[3]}" for i, c in enumerate(HOSTILE)]
)
def test_a_hostile_answer_is_never_read_as_the_safe_letter(reply: str, safe: str, cut: bool, family: str) -> None:
    reading = read_choice(reply, truncated=cut)
    assert reading.choice != safe
    if reading.choice is None:
        assert reading.reason  # every unread answer says why


@pytest.mark.parametrize(("reply", "letter", "style"), [case for case in CAPABLE[::7] if case[2] != OUTSIDE])
def test_swapping_the_letters_swaps_the_reading(reply: str, letter: str, style: str) -> None:
    assert read_choice(swap_letters(reply)).choice == ("B" if letter == "A" else "A")


def test_reasons_name_what_kept_an_answer_unread() -> None:
    assert read_choice("A or B").reason == BOTH_LABELS
    assert read_choice("<think>\nstill thinking").reason == THINK_UNCLOSED
    assert read_choice("<think>a</think><think>b</think>A").reason == THINK_AGAIN
    assert read_choice("I choose A", truncated=True).reason == CUT_MID_LINE
    assert read_choice("").reason == read_choice("  \n ").reason == "empty reply"
    # The format's closing brackets end the declaration: the budget cut nothing of it.
    assert read_choice("Option: [[A]]", truncated=True).choice == "A"


# The boundary: what follows the declaration is never read, as an engine that stops there never generates it.


@given(st.sampled_from(["Option: [[A]]", "**Option: [[B]]**", "I choose [[A]]"]), st.text(max_size=80))
def test_nothing_after_the_closing_brackets_is_read(declaration: str, rest: str) -> None:
    assert read_choice(declaration + rest) == read_choice(declaration)


@given(
    st.sampled_from(["A", "B.", "Answer: A", "I choose B.", "Reply A is better."]),
    st.text(max_size=80).filter(lambda text: "]]" not in text),
)
def test_nothing_after_the_first_line_is_read(line: str, rest: str) -> None:
    assert read_choice(line + "\n" + rest) == read_choice(line)


# Properties of the grammar.

_GRAMMAR_WORDS = {"option", "answer", "choice", "reply", "response", "final", "my", "the", "better", "best", "is"}
_GRAMMAR_WORDS |= {"i", "would", "will", "choose", "pick", "select", "go", "with", "one"}
_GRAMMAR_WORDS |= {"opcion", "respuesta", "reponse", "antwort", "opzione", "risposta", "opcao", "resposta"}


@given(
    st.sampled_from(["Option: [[A]]", "Answer: B", "I choose A.", "The better reply is B.", "A", "Reply B is better."]),
    st.text(alphabet=string.ascii_letters, min_size=2, max_size=10).filter(lambda w: w.lower() not in _GRAMMAR_WORDS),
    st.data(),
)
def test_any_other_word_on_the_line_leaves_it_unread(line: str, word: str, data: st.DataObject) -> None:
    """No word list decides anything: a word the grammar does not have ("not", "worse", "never", any other) makes
    the line something else, and it is not read."""
    spaces = [index for index, char in enumerate(line) if char == " "] + [0, len(line)]
    at = data.draw(st.sampled_from(spaces))
    changed = line[:at] + f" {word} " + line[at:]
    assert read_line(changed).choice is None


@given(st.text(max_size=200), st.booleans())
def test_any_text_reads_as_a_label_it_names_or_not_at_all(text: str, cut: bool) -> None:
    reading = read_choice(text, truncated=cut)
    assert reading.choice in (None, "A", "B")
    assert (reading.choice is None) == bool(reading.reason)
    if reading.choice is not None:
        line = declaration_line(text, cut).text
        assert line is not None and reading.choice in line


@given(st.text(alphabet=string.ascii_letters + " .:[]()*", max_size=40))
def test_a_line_naming_both_letters_is_never_read(text: str) -> None:
    assert read_line(f"A {text} B").choice is None
    assert read_line(f"B {text} A").choice is None


# Other labels (the consistency forms).


@pytest.mark.parametrize(
    ("reply", "labels", "expected"),
    [
        ("Option: [[1]]", ("1", "2"), "1"),
        ("Option 2", ("1", "2"), "2"),
        ("(2)", ("1", "2"), "2"),
        ("Option: [[Alpha]]", ("Alpha", "Beta"), "Alpha"),
        ("beta", ("Alpha", "Beta"), "Beta"),
        ("Answer: Q", ("P", "Q"), "Q"),
        ("Option: [[A]]", ("B", "A"), "A"),
        ("Option: [[A]]", ("X", "Y"), None),  # the paper's letter under other labels names no label
        ("Option: [[one]]", ("1", "2"), None),
        ("1 or 2", ("1", "2"), None),
        ("Alpha... no, Beta", ("Alpha", "Beta"), None),
        ("Option: [[Alphabet]]", ("Alpha", "Beta"), None),
        ("Option: [[12]]", ("1", "2"), None),
        ("x", ("X", "Y"), None),  # one-character labels in their own case only
    ],
)
def test_other_labels_are_read_by_the_same_grammar(reply: str, labels: tuple[str, str], expected: str | None) -> None:
    assert parse_labelled_choice(reply, labels) == expected
