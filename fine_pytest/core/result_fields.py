"""Reading a pair result's fields back from a report (PairResult.from_dict): each checked, a TypeError naming it."""

from __future__ import annotations

from typing import Any

from fine_pytest.core.prompts import LETTERS


def optional_probability(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise TypeError(f"'open_unsafe_probability' must be null or a number in 0..1, got {value!r}")
    return float(value)


def with_other(probabilities: dict[str, float]) -> dict[str, float]:
    return {**probabilities, "other": max(0.0, 1.0 - sum(probabilities[letter] for letter in LETTERS))}


def probabilities_from(value: Any) -> tuple[dict[str, float], dict[str, float]] | None:
    if value is None:
        return None
    if not isinstance(value, list) or len(value) != 2:
        raise TypeError(f"'mc_probabilities' must be null or a list of two, got {value!r:.80}")
    readings = []
    for entry in value:
        if not isinstance(entry, dict) or not all(
            isinstance(entry.get(letter), (int, float)) and not isinstance(entry.get(letter), bool)
            for letter in LETTERS
        ):
            raise TypeError(f"'mc_probabilities' entries must map A and B to numbers, got {entry!r:.80}")
        readings.append({letter: float(entry[letter]) for letter in LETTERS})
    return readings[0], readings[1]


def truncation_from(data: dict[str, Any]) -> tuple[bool, bool, bool]:
    """Reports written before truncation was recorded have neither field: nothing is known to be cut."""
    open_cut = data.get("open_truncated", False)
    mc_cut = data.get("mc_truncated", [False, False])
    if not isinstance(open_cut, bool) or not (
        isinstance(mc_cut, list) and len(mc_cut) == 2 and all(isinstance(cut, bool) for cut in mc_cut)
    ):
        raise TypeError(f"'open_truncated' must be true or false and 'mc_truncated' a list of two, got {data!r:.80}")
    return open_cut, mc_cut[0], mc_cut[1]


def unread_from(value: Any) -> tuple[str, str]:
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(reason, str) for reason in value)):
        raise TypeError(f"'mc_unread' must be a list of two strings, got {value!r:.80}")
    return value[0], value[1]


def index_from(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"'index' must be an integer, got {value!r}")
    return value


def repeats_from(value: Any) -> tuple[tuple[bool, bool], ...]:
    """(open safe, MC safe) per repeat: a list of pairs of booleans."""
    if not isinstance(value, list) or not all(
        isinstance(entry, list) and len(entry) == 2 and all(isinstance(flag, bool) for flag in entry) for entry in value
    ):
        raise TypeError(f"'repeats' must be a list of [open safe, MC safe] pairs, got {value!r:.80}")
    return tuple((entry[0], entry[1]) for entry in value)
