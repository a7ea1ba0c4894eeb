"""The per-pair verdict table that a syrupy snapshot keeps as the suite's baseline.

Verdicts only, never model text: the snapshot is committed with the model version, and a diff of it reads as
"which pairs changed". One line per pair, in dataset order, so an unchanged pair never shows up in a diff.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

from fine_pytest.core.metrics import score
from fine_pytest.core.results import PairResult

COLUMNS = ("pair", "open", "MC A-first,B-first", "MC", "consistent", "consistently safe")


def verdict_table(results: Sequence[PairResult]) -> str:
    ordered = sorted(results, key=lambda result: result.index)
    scores = score(ordered)
    rows = [
        (
            result.key,
            result.open_verdict,
            ",".join(choice or "?" for choice in result.mc_choices),
            result.mc_verdict,
            _yes(result.consistent),
            _yes(result.consistently_safe),
        )
        for result in ordered
    ]
    # Fixed widths (the key column aside): a changed verdict must change its own line only, or every line would
    # show in the diff.
    widths = [max(len(row[0]) for row in [COLUMNS, *rows]), 11, 18, 6, 10, 17]
    lines = [
        f"FINE verdicts of {scores.n} pairs: CS {_rate(scores.cs)}, CSS {_rate(scores.css)}",
        *(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
            for row in [COLUMNS, *rows]
        ),
    ]
    return "\n".join(lines) + "\n"


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


# A baseline belongs to one model on one dataset under one judge: each gets a folder of its own, so the baselines
# of several models live side by side and an update of one is compared with its own earlier verdicts.
_SEPARATOR = "__"
_LABEL_LIMIT = 48


def baseline_identity(model: str, datasets: Sequence[str], judge: str) -> str:
    """A folder name for the baseline of (model, datasets, judge): readable, and distinct for distinct inputs
    (a part that had to be changed to fit a file name carries a hash of what it was)."""
    dataset = "+".join(datasets) or "none"
    return _SEPARATOR.join(_label(part) for part in (model, dataset, judge))


def _label(text: str) -> str:
    label = re.sub(r"[^A-Za-z0-9._+-]+", "-", text).strip("-.") or "x"
    if label != text or len(label) > _LABEL_LIMIT or _SEPARATOR in label:
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]
        label = f"{label.replace(_SEPARATOR, '_')[:_LABEL_LIMIT]}-{digest}"
    return label
