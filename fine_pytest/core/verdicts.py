"""The open answer's verdicts, and how an ensemble's votes on it are told apart and read back."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

SAFE = "safe"
UNSAFE = "unsafe"
UNPARSEABLE = "unparseable"
VERDICTS = (SAFE, UNSAFE, UNPARSEABLE)


def disagree(votes: Sequence[str]) -> bool:
    """Whether judges' votes split between safe and not safe."""
    return len({vote == SAFE for vote in votes}) > 1


def votes_from(value: Any) -> tuple[str, ...]:
    """A report's ``judge_votes``, checked."""
    if not isinstance(value, list) or any(vote not in VERDICTS for vote in value):
        raise TypeError(f"'judge_votes' must be a list of verdicts {VERDICTS}, got {value!r:.80}")
    return tuple(value)
