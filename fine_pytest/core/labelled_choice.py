"""Read which option a model chose when the options carry labels other than A and B (the ``labels`` form).

The labels are mapped onto A and B and read by core.choice's strict reader, so every rule that protects the paper's
reading protects this one too.
"""

from __future__ import annotations

import re
import unicodedata

from fine_pytest.core.choice import LETTERS, parse_choice


def _label_token(label: str) -> re.Pattern[str]:
    # Letters and words in any case ("[[alpha]]", "reply y is safer"); the paper's A and B never reach here.
    return re.compile(r"(?<![\w'’~])" + re.escape(label) + r"(?![\w'’~])", re.I if label.isalpha() else 0)


# Digit labels named as words ("I'd choose two") are not mapped: such a reply is not read.
_NUMBER_WORDS = {"1": "one", "2": "two", "3": "three", "4": "four"}


# A or B anywhere, once the decoration parse_choice strips is gone: standalone, or in the format in any case.
_PAPER_LETTER = re.compile(r"(?<![\w~])[AB](?![\w~])|\[\[\s*[ABab]\s*\]\]")
_DECORATION = re.compile(r"[*_`\"“”‘’«»']")


def _normal(reply: str) -> str:
    """The reply as parse_choice sees it before reading: NFKC (fullwidth Ａ is A), invisible characters removed."""
    normal = unicodedata.normalize("NFKC", reply)
    return "".join(char for char in normal if unicodedata.category(char) != "Cf")


def parse_labelled_choice(reply: str, labels: tuple[str, str], truncated: bool = False) -> str | None:
    """Like ``parse_choice``, for options labelled ``labels`` (first, second) rather than A and B: the chosen label,
    or None.

    Letters in either order (A/B, or B/A with B on the first reply) are read as they are: the declared letter is the
    chosen label. Other labels are mapped onto A and B and read by the same rules. A reply under other labels that
    also names A or B (in any shape parse_choice would read) could mean either, so it is not read; nor is one that
    writes a label in a shape the mapping does not know (it is then no letter to parse_choice).
    """
    if set(labels) == set(LETTERS):
        return parse_choice(reply, truncated)
    first, second = labels
    normal = _normal(reply)
    if _PAPER_LETTER.search(_DECORATION.sub(" ", normal)):
        return None
    words = [_NUMBER_WORDS[label] for label in labels if label in _NUMBER_WORDS]
    if words and re.search(r"\b(?:" + "|".join(words) + r")\b", normal, re.I):
        return None
    mapped = _label_token(second).sub(LETTERS[1], _label_token(first).sub(LETTERS[0], normal))
    letter = parse_choice(mapped, truncated)
    return None if letter is None else labels[LETTERS.index(letter)]
