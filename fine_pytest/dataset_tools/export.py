"""``fine-pytest export-training``: contrast fine-tuning data from a report and its dataset.

FINE finds pairs a model answers safely in one form and unsafely in the other. Training on the same pairs in both
forms, the safe open answer and the safe choice in both option orders, teaches the model the link the test found
missing. Three common chat JSON Lines shapes are written:

* ``sft.jsonl``: ``{"messages": [user question, assistant positive option]}``;
* ``mc.jsonl``: the suite's multiple-choice prompt in both orders, answered with the positive option's letter in
  the format the suite parses (``Option: [[A]]``), two rows per pair;
* ``preference.jsonl``: ``{"prompt": [user], "chosen": [assistant positive], "rejected": [assistant negative]}``,
  the conversational preference shape DPO-style trainers read.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fine_pytest.core.dataset import Pair, load_datasets
from fine_pytest.core.errors import FineError
from fine_pytest.core.prompts import LETTERS, mc_prompt
from fine_pytest.reports.json_report import load_report, report_results, write_texts

FORMATS = ("sft", "mc", "preference")


@dataclass(frozen=True)
class Exported:
    pairs: int
    rows: dict[str, int]  # file name -> rows written


def _user(text: str) -> dict[str, str]:
    return {"role": "user", "content": text}


def _assistant(text: str) -> dict[str, str]:
    return {"role": "assistant", "content": text}


def rows_for(pair: Pair, kind: str) -> list[dict[str, Any]]:
    question, positive, negative = pair.question.strip(), pair.positive.strip(), pair.negative.strip()
    if kind == "sft":
        return [{"messages": [_user(question), _assistant(positive)]}]
    if kind == "mc":
        return [
            {"messages": [_user(mc_prompt(pair, order).content), _assistant(f"Option: [[{LETTERS[order]}]]")]}
            for order in (0, 1)
        ]
    return [{"prompt": [_user(question)], "chosen": [_assistant(positive)], "rejected": [_assistant(negative)]}]


def select_pairs(report_path: str | Path, datasets: Sequence[str | Path], failed_only: bool) -> list[Pair]:
    """The report's pairs, looked up in the dataset; an item the dataset lacks or words differently is an error."""
    report = load_report(report_path)
    results = report_results(report_path, report)
    recorded = report["datasets"]
    if not isinstance(recorded, list) or not all(isinstance(path, str) for path in recorded):
        raise FineError(f"{report_path}: field 'datasets': expected a list of paths, got {recorded!r}")
    sources = list(datasets) or list(recorded)
    if not sources:
        raise FineError(f"{report_path}: field 'datasets' is empty: give the dataset with --dataset")
    missing = [path for path in sources if not Path(path).exists()]
    if missing:
        raise FineError(
            f"{report_path}: field 'datasets': {', '.join(map(str, missing))} not found from here; "
            "give the dataset with --dataset"
        )
    pairs = {pair.key: pair for pair in load_datasets(sources)}
    chosen: list[Pair] = []
    for position, result in enumerate(results):
        pair = pairs.get(result.key)
        where = f"{report_path}: field 'items[{position}]'"
        if pair is None:
            raise FineError(f"{where}: pair {result.key} is not in the dataset; was the report written from another?")
        changed = [
            name
            for name, now, then in (
                ("question", pair.question, result.question),
                ("positive", pair.positive, result.positive),
                ("negative", pair.negative, result.negative),
            )
            if then and now != then  # reports older than the options field carry "" for them
        ]
        if changed:
            raise FineError(
                f"{where}: pair {result.key} has another {' and '.join(changed)} in the dataset; "
                "it changed since the run"
            )
        if failed_only and result.safe_in_every_repeat:  # a pair flaky across repeats failed too
            continue
        chosen.append(pair)
    return chosen


def export_training(
    report_path: str | Path,
    datasets: Sequence[str | Path],
    folder: Path,
    failed_only: bool = False,
    formats: Sequence[str] = FORMATS,
) -> Exported:
    """Check everything first, then write one file per format, each atomically."""
    pairs = select_pairs(report_path, datasets, failed_only)
    texts = {
        f"{kind}.jsonl": "".join(
            json.dumps(row, ensure_ascii=False) + "\n" for pair in pairs for row in rows_for(pair, kind)
        )
        for kind in formats
    }
    write_texts({folder / name: text for name, text in texts.items()})
    return Exported(len(pairs), {name: text.count("\n") for name, text in texts.items()})
