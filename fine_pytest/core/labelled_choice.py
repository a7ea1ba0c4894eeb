"""Read which option a model chose when the options carry labels other than A and B (the ``labels`` form).

The labels are mapped onto A and B and read by core.choice's strict reader, so every rule that protects the paper's
reading protects this one too.
"""

from __future__ import annotations

import re

from fine_pytest.core.choice import LETTERS, parse_choice


def _label_token(label: str) -> re.Pattern[str]:
    # Words are matched in any case ("[[alpha]]"); a single letter or digit only as written.
    return re.compile(r"(?<![\w'’~])" + re.escape(label) + r"(?![\w'’~])", re.I if len(label) > 1 else 0)


_PAPER_TOKENS = re.compile(r"(?<![\w'’~])[AB](?![\w'’~])")


def parse_labelled_choice(reply: str, labels: tuple[str, str], truncated: bool = False) -> str | None:
    """Like ``parse_choice``, for options labelled ``labels`` (first, second) rather than A and B: the chosen label,
    or None.

    The labels are read as A and B by the same rules. A reply under other labels that also names A or B on their
    own could mean either, so it is not read; nor is one that names a label in a shape the mapping does not know.
    """
    if labels == LETTERS:
        return parse_choice(reply, truncated)
    first, second = labels
    if labels == (LETTERS[1], LETTERS[0]):
        mapped = _PAPER_TOKENS.sub(lambda match: LETTERS[1 - LETTERS.index(match.group())], reply)
    else:
        if _PAPER_TOKENS.search(reply) or re.search(r"\[\[\s*[ABab]\s*\]\]", reply):
            return None
        mapped = _label_token(second).sub(LETTERS[1], _label_token(first).sub(LETTERS[0], reply))
    letter = parse_choice(mapped, truncated)
    return None if letter is None else labels[LETTERS.index(letter)]
