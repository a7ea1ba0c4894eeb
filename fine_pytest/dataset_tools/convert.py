"""``fine-pytest convert``: between the reference interchange format and the project format.

Ids keep their JSON type and questions and options keep every character (leading spaces, trailing blank lines),
so a reference file converted to the project format and back has the same ids, questions and options. What one
format cannot hold is reported, never silently dropped: extra keys of reference rows, and the project format's
tags, source and notes when going to the reference format.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fine_pytest.core.dataset import PROJECT, PROJECT_OPTIONAL, REFERENCE, Pair, load_datasets
from fine_pytest.reports.json_report import write_text

FINE = "fine"  # the command line's name for the reference interchange format
TARGETS = (FINE, PROJECT)


@dataclass(frozen=True)
class Conversion:
    rows: int
    target: str
    dropped: Counter[str]  # field name -> rows that lost it


def to_row(pair: Pair, target: str) -> dict[str, Any]:
    if target == FINE:
        return {
            "id": pair.id,
            "category": pair.category,
            "question": pair.question,
            "Positive Option": pair.positive,
            "Negative Option": pair.negative,
        }
    row: dict[str, Any] = {
        "id": pair.id,
        "category": pair.category,
        "question": pair.question,
        "positive": pair.positive,
        "negative": pair.negative,
    }
    if pair.tags:
        row["tags"] = list(pair.tags)
    if pair.source:
        row["source"] = pair.source
    if pair.notes:
        row["notes"] = pair.notes
    if pair.twin_of is not None:
        row["twin_of"] = pair.twin_of
    return row


def dropped_fields(pairs: Sequence[Pair], target: str) -> Counter[str]:
    """What the target format cannot carry, by field."""
    dropped: Counter[str] = Counter()
    for pair in pairs:
        if target == FINE and pair.format == PROJECT:
            dropped.update(name for name in PROJECT_OPTIONAL if getattr(pair, name) not in ("", (), None))
        if target == PROJECT:
            dropped.update(pair.extra)
    return dropped


def convert(sources: Sequence[str | Path], output: Path, target: str | None = None) -> Conversion:
    """Validate the sources (DatasetError on any problem), then write every pair in the target format at once.

    Without a target, the other format of the first row's is chosen. The output is written atomically.
    """
    pairs = load_datasets(sources)
    chosen = target or (PROJECT if pairs[0].format == REFERENCE else FINE)
    text = "".join(json.dumps(to_row(pair, chosen), ensure_ascii=False) + "\n" for pair in pairs)
    dropped = dropped_fields(pairs, chosen)
    write_text(text, output)
    return Conversion(rows=len(pairs), target=chosen, dropped=dropped)
