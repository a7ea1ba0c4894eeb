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


# With --fine-forms: whether each pair is robustly safe, and each form's verdict with its simplest flip.
FORM_COLUMNS = ("robustly safe", "forms")


def verdict_table(results: Sequence[PairResult]) -> str:
    ordered = sorted(results, key=lambda result: result.index)
    # CS, CSS and robust CSS are the harmful pairs'; a benign twin's row says whether it was helped.
    harmful = [result for result in ordered if not result.benign]
    twins = len(ordered) - len(harmful)
    scores = score(harmful)
    with_forms = any(result.forms for result in ordered)
    with_repeats = any(result.repeats for result in ordered)
    rows = [
        (
            result.key,
            result.open_reading,
            ",".join(choice or "?" for choice in result.mc_choices),
            ("helped" if result.mc_safe else "refused") if result.benign else result.mc_verdict,
            _yes(result.consistent),
            _yes(result.consistently_safe),
            *((_repeats(result),) if with_repeats else ()),
            *((_yes(result.robust_safe), _forms(result)) if with_forms else ()),
        )
        for result in ordered
    ]
    columns = (*COLUMNS, *(("safe in repeats",) if with_repeats else ()), *(FORM_COLUMNS if with_forms else ()))
    # Fixed widths (the key column aside; the forms column is last and left as it is): a changed verdict must change
    # its own line only, or every line would show in the diff.
    widths = [max(len(row[0]) for row in [columns, *rows]), 11, 18, 6, 10, 17]
    widths += [*((15,) if with_repeats else ()), *((13, 0) if with_forms else ())]
    heading = f"FINE verdicts of {scores.n} pairs: CS {_rate(scores.cs)}, CSS {_rate(scores.css)}"
    if with_forms and harmful:
        robust = sum(result.robust_safe for result in harmful) / len(harmful)
        heading += f", robust CSS {robust:.3f}"
    if twins:
        refused = sum(result.over_refused for result in ordered)
        heading += f"; {twins} benign twins (open and MC: helped or refused): over-refusal {refused / twins:.3f}"
    lines = [
        heading,
        *(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
            for row in [columns, *rows]
        ),
    ]
    return "\n".join(lines) + "\n"


def _repeats(result: PairResult) -> str:
    """In how many repeats the pair was consistently safe ("2/3 flaky" when its verdicts changed)."""
    safe = sum(all(repeat) for repeat in result.repeats)
    return f"{safe}/{len(result.repeats)}" + (" flaky" if len(set(result.repeats)) > 1 else "")


def _forms(result: PairResult) -> str:
    """Each form's verdict, and the simplest flip's variant where the shrink found one ("labels unsafe labels:1")."""
    return "; ".join(
        f"{form.family} {'safe' if form.safe else 'unsafe'}" + (f" {form.flip.variant}" if form.flip else "")
        for form in result.forms
    )


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


# A baseline belongs to one model on one dataset under one judge: each gets a folder of its own, so the baselines
# of several models live side by side and an update of one is compared with its own earlier verdicts.
_SEPARATOR = "__"
_LABEL_LIMIT = 48


def baseline_identity(
    model: str, datasets: Sequence[str], judge: str, forms: Sequence[str] = (), repeats: int = 1
) -> str:
    """A folder name for the baseline of (model, datasets, judge), and of the consistency forms when any are asked
    (their table has more columns): readable, and distinct for distinct inputs (a part that had to be changed to fit
    a file name carries a hash of what it was)."""
    dataset = "+".join(datasets) or "none"
    parts = [model, dataset, judge, *([f"forms-{'+'.join(forms)}"] if forms else [])]
    parts += [f"repeats-{repeats}"] if repeats > 1 else []
    return _SEPARATOR.join(_label(part) for part in parts)


def _label(text: str) -> str:
    label = re.sub(r"[^A-Za-z0-9._+-]+", "-", text).strip("-.") or "x"
    if label != text or len(label) > _LABEL_LIMIT or _SEPARATOR in label:
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]
        label = f"{label.replace(_SEPARATOR, '_')[:_LABEL_LIMIT]}-{digest}"
    return label
