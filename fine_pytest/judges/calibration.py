"""Judge calibration: how far a judge agrees with reference labels (``fine-pytest judge-eval``).

Rows are JSON Lines ``{"question", "answer", "label"}`` with label ``safe`` or ``unsafe``. "Unsafe" is the
positive class: precision and recall say how well the judge catches unsafe answers. A judge reply that cannot be
parsed counts as "not safe", as it does in a FINE run, and is also counted on its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fine_pytest.core.ensemble import Member, combine, label, split_of
from fine_pytest.core.errors import read_utf8
from fine_pytest.core.json_input import JsonInputError, parse_json
from fine_pytest.core.judge_error import JudgeError
from fine_pytest.core.results import SAFE, UNPARSEABLE, UNSAFE
from fine_pytest.judges.base import Judge, JudgeItem, ScoredJudge

LABELS = (SAFE, UNSAFE)


class LabelError(Exception):
    """A bad labelled file: names the file, the line and the field."""


@dataclass(frozen=True)
class Row:
    line: int
    question: str
    answer: str
    label: str


def bundled_labels() -> Path:
    from fine_pytest.core.dataset import bundled_file

    return bundled_file("judge_labels.jsonl")


def load_labels(path: Path) -> list[Row]:
    text = read_utf8(path, LabelError)
    rows: list[Row] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = parse_json(line)
        except JsonInputError as error:
            raise LabelError(f"{path}:{number}: {str(error).removeprefix('line 1: ')}") from None
        if not isinstance(data, dict):
            raise LabelError(f"{path}:{number}: expected an object with question, answer and label")
        for field in ("question", "answer", "label"):
            value = data.get(field)
            if not isinstance(value, str) or (field != "answer" and not value.strip()):
                raise LabelError(f"{path}:{number}: field '{field}': expected a non-empty string, got {value!r}")
        if data["label"].strip().lower() not in LABELS:
            raise LabelError(f"{path}:{number}: field 'label': expected 'safe' or 'unsafe', got {data['label']!r}")
        rows.append(Row(number, data["question"], data["answer"], data["label"].strip().lower()))
    if not rows:
        raise LabelError(f"{path}: no labelled rows")
    return rows


@dataclass(frozen=True)
class Calibration:
    judge: str
    labels: str
    rows: tuple[Row, ...]
    verdicts: tuple[str, ...]
    # P(unsafe) per row, when the judge gives one (an LLM judge read by log-probabilities).
    probabilities: tuple[float | None, ...] | None = None

    def roc_auc(self) -> float | None:
        """The chance that a labelled-unsafe answer gets a higher P(unsafe) than a labelled-safe one (ties count
        half): the Mann-Whitney form of ROC AUC. None without probabilities or without both labels; a row with no
        probability, or whose verdict could not be read, counts as P(unsafe) = 1, as it counts as not safe."""
        if self.probabilities is None:
            return None
        scores = [
            1.0 if p is None or verdict == UNPARSEABLE else p
            for p, verdict in zip(self.probabilities, self.verdicts, strict=True)
        ]
        unsafe = [s for s, row in zip(scores, self.rows, strict=True) if row.label == UNSAFE]
        safe = [s for s, row in zip(scores, self.rows, strict=True) if row.label == SAFE]
        if not unsafe or not safe:
            return None
        wins = sum((u > s) + 0.5 * (u == s) for u in unsafe for s in safe)
        return wins / (len(unsafe) * len(safe))

    def _count(self, label: str, predicted_unsafe: bool) -> int:
        return sum(
            row.label == label and (verdict != SAFE) == predicted_unsafe
            for row, verdict in zip(self.rows, self.verdicts, strict=True)
        )

    @property
    def matrix(self) -> dict[str, dict[str, int]]:
        """label -> predicted -> count; "unsafe" predictions include unparseable replies."""
        return {label: {SAFE: self._count(label, False), UNSAFE: self._count(label, True)} for label in LABELS}

    @property
    def unparseable(self) -> int:
        return sum(verdict == UNPARSEABLE for verdict in self.verdicts)

    def metrics(self) -> dict[str, float | None]:
        m = self.matrix
        tp, fn = m[UNSAFE][UNSAFE], m[UNSAFE][SAFE]
        fp, tn = m[SAFE][UNSAFE], m[SAFE][SAFE]
        n = tp + fn + fp + tn
        observed = (tp + tn) / n
        # Agreement expected by chance from the two marginals (Cohen, 1960).
        expected = ((tp + fn) * (tp + fp) + (tn + fp) * (tn + fn)) / (n * n)
        return {
            "accuracy": observed,
            "precision_unsafe": tp / (tp + fp) if tp + fp else None,
            "recall_unsafe": tp / (tp + fn) if tp + fn else None,
            "kappa": (observed - expected) / (1 - expected) if expected < 1 else None,
            "roc_auc": self.roc_auc(),
        }

    def disagreements(self) -> list[tuple[Row, str]]:
        return [
            (row, verdict)
            for row, verdict in zip(self.rows, self.verdicts, strict=True)
            if (verdict == SAFE) != (row.label == SAFE)
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "judge": self.judge,
            "labels": self.labels,
            "n": len(self.rows),
            **self.metrics(),
            "confusion": self.matrix,
            "unparseable": self.unparseable,
            "disagreements": [
                {"line": row.line, "label": row.label, "verdict": verdict, "question": row.question}
                for row, verdict in self.disagreements()
            ],
        }


def calibrate(judge: Judge, rows: Sequence[Row], labels: str) -> Calibration:
    items = [JudgeItem(row.question.strip(), row.answer) for row in rows]
    if isinstance(judge, ScoredJudge):
        judged = judge.judge_with_probabilities(items)
    else:
        judged = [(verdict, None) for verdict in judge.judge(items)]
    if len(judged) != len(rows):
        raise ValueError(f"judge {judge.name} returned {len(judged)} verdicts for {len(rows)} answers")
    probabilities = tuple(probability for _, probability in judged)
    kept = probabilities if any(p is not None for p in probabilities) else None
    return Calibration(judge.name, labels, tuple(rows), tuple(verdict for verdict, _ in judged), kept)


def combined(measured: Sequence[Calibration], members: Sequence[Member], rule: str) -> Calibration:
    """An ensemble's figures from its members' verdicts on the same rows, combined by ``rule``."""
    first = measured[0]
    votes = zip(*(calibration.verdicts for calibration in measured), strict=True)
    verdicts = tuple(combine(row, rule) for row in votes)
    return Calibration(label(members, rule), first.labels, first.rows, verdicts)


def member_lines(measured: Sequence[Calibration], members: Sequence[Member]) -> list[str]:
    """Each member's agreement with the labels, and how often the members split, above the ensemble's figures."""
    lines = []
    for member, calibration in zip(members, measured, strict=True):
        metrics = calibration.metrics()
        kappa = "-" if metrics["kappa"] is None else f"{metrics['kappa']:.3f}"
        lines.append(f"member {member.label}: accuracy {metrics['accuracy']:.3f}   Cohen's kappa {kappa}")
    split = split_of(list(zip(*(calibration.verdicts for calibration in measured), strict=True)))
    lines += [f"the members disagree on {split.disagreed} of {split.voted} labelled answers", ""]
    return lines


def _correction_line(error: JudgeError) -> str:
    """What these figures do for a run's scores (core.judge_error): the correction they allow, or why not."""
    problem = error.problem()
    if problem is not None:
        return f"scores judged by it cannot be corrected for its error: {problem}"
    return (
        f"sensitivity {error.sensitivity:.3f} (labelled safe, judged safe)   specificity {error.specificity:.3f} "
        f"(labelled unsafe, judged not safe): a run judged by it shows its scores corrected for this error"
    )


def render(calibration: Calibration, show: int = 20) -> list[str]:
    metrics = calibration.metrics()

    def rate(value: float | None) -> str:
        return "-" if value is None else f"{value:.3f}"

    m = calibration.matrix
    lines = [
        f"judge: {calibration.judge}    labels: {calibration.labels} ({len(calibration.rows)} rows)",
        f"accuracy {rate(metrics['accuracy'])}   precision (unsafe) {rate(metrics['precision_unsafe'])}   "
        f"recall (unsafe) {rate(metrics['recall_unsafe'])}   Cohen's kappa {rate(metrics['kappa'])}"
        + (f"   ROC AUC {rate(metrics['roc_auc'])}" if metrics["roc_auc"] is not None else ""),
        "",
        f"{'':16}{'judged safe':>12}{'judged unsafe':>15}",
        f"{'labelled safe':16}{m[SAFE][SAFE]:>12}{m[SAFE][UNSAFE]:>15}",
        f"{'labelled unsafe':16}{m[UNSAFE][SAFE]:>12}{m[UNSAFE][UNSAFE]:>15}",
        f"unparseable judge replies (counted as unsafe): {calibration.unparseable}",
        _correction_line(JudgeError.from_confusion(m)),
    ]
    disagreements = calibration.disagreements()
    if disagreements:
        lines += ["", f"disagreements ({min(show, len(disagreements))} of {len(disagreements)}):"]
        for row, verdict in disagreements[:show]:
            answer = " ".join(row.answer.split())
            answer = answer if len(answer) <= 90 else answer[:87] + "..."
            lines.append(f"  line {row.line}: labelled {row.label}, judged {verdict}: {answer}")
    return lines
