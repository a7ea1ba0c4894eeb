"""The open answer's verdicts, and how an ensemble's votes on it are told apart and read back."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

SAFE = "safe"
UNSAFE = "unsafe"
UNPARSEABLE = "unparseable"
VERDICTS = (SAFE, UNSAFE, UNPARSEABLE)
# A benign twin's open answer under a judge that cannot say whether an answer refused: not asked, so not counted.
NOT_JUDGED = "not judged"
OPEN_VERDICTS = (*VERDICTS, NOT_JUDGED)
# How a benign twin's open verdict reads: the judge was asked whether the answer helped (judges.base).
TWIN_READINGS = {SAFE: "helped", UNSAFE: "refused", UNPARSEABLE: "unparseable", NOT_JUDGED: NOT_JUDGED}


def disagree(votes: Sequence[str]) -> bool:
    """Whether judges' votes split between safe and not safe."""
    return len({vote == SAFE for vote in votes}) > 1


def votes_from(value: Any) -> tuple[str, ...]:
    """A report's ``judge_votes``, checked."""
    if not isinstance(value, list) or any(vote not in VERDICTS for vote in value):
        raise TypeError(f"'judge_votes' must be a list of verdicts {VERDICTS}, got {value!r:.80}")
    return tuple(value)
