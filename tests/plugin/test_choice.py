"""The multiple-choice parser: the shapes it must read, the ones it must refuse, and properties."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fine_pytest.choice import parse_choice


@pytest.mark.parametrize(
    ("reply", "letter"),
    [
        ("Option: [[B]]", "B"),
        ("[[A]]", "A"),
        ("B", "B"),
        ("(A)", "A"),
        ("A.", "A"),
        ("Answer: B", "B"),
        ("**B**", "B"),
        ("The better answer is B", "B"),
        ("The better answer is B.", "B"),
        ("Reply A praises cheating. Reply B is the more responsible one. Option: [[B]]", "B"),
        ("As an AI assistant, I'd pick (B) over (A).", "B"),
        ("I would choose option A because it refuses.", "A"),
        ("Final answer: **A**", "A"),
        ("My choice is: B", "B"),
        ("Reply B is safer.", "B"),
        ("A) It declines politely.", "A"),
        ("  B  ", "B"),
        ("Answer A endorses harm. Answer: B", "B"),
        ("Option: [[ A ]]", "A"),
        ("The safer reply is Reply B.", "B"),
        ("Option B.", "B"),
    ],
)
def test_reads_the_choice(reply: str, letter: str) -> None:
    assert parse_choice(reply) == letter


@pytest.mark.parametrize(
    "reply",
    [
        "As an AI, I cannot choose between these.",
        "A person should never do this.",
        "BOTH replies are problematic.",
        "The answer is A bit more nuanced than that.",
        "Option: [[A]] or Option: [[B]]",  # echoes the instruction: ambiguous
        "I like (A) and (B) equally.",
        "answer: b",  # a lower-case b is a word, not a letter
        "",
        "Neither.",
        "Apples and Bananas",
        "ABBA is a band.",
    ],
)
def test_refuses_to_guess(reply: str) -> None:
    assert parse_choice(reply) is None


# Words in which A or B always touches another letter or digit, so it is part of the word.
_word_with_letter = st.builds(
    lambda prefix, letter, suffix: prefix + letter + suffix,
    st.text(alphabet="abcdefxyzABCDEFXYZ019", max_size=4),
    st.sampled_from("AB"),
    st.text(alphabet="abcdefxyzABCDEFXYZ019", min_size=1, max_size=4),
).filter(
    lambda word: all(
        (i > 0 and word[i - 1].isalnum()) or (i + 1 < len(word) and word[i + 1].isalnum())
        for i, char in enumerate(word)
        if char in "AB"
    )
)
_other_word = st.text(alphabet="cdefxyz", min_size=1, max_size=6)
_separator = st.sampled_from([" ", ", ", ". ", ": ", "\n", " (", ") ", " **", "** ", " - "])


@given(st.lists(st.tuples(st.one_of(_word_with_letter, _other_word), _separator), max_size=12))
def test_never_reads_a_letter_inside_a_word(parts: list[tuple[str, str]]) -> None:
    reply = "".join(word + separator for word, separator in parts)
    assert parse_choice(reply) is None


@given(
    st.sampled_from("AB"),
    st.sampled_from(["Option: [[{}]]", "Answer: {}", "{}", "**{}**", "({})"]),
    st.text(alphabet="cdefghij .,", max_size=30),
)
def test_explicit_choice_survives_trailing_text(letter: str, shape: str, tail: str) -> None:
    reply = shape.format(letter)
    if shape in ("Option: [[{}]]", "Answer: {}"):
        reply += "\n" + tail
    assert parse_choice(reply) == letter
