"""How far the judge behind the open-ended verdicts agrees with reference labels, said wherever its numbers are shown.

* The default ``refusal`` heuristic is measured in every run against the bundled reference labels (a regex over about a
  hundred answers: milliseconds), so the figure shown is always the one of the rules that judged.
* Any other judge: ``fine-pytest judge-eval --judge=SPEC -o FILE`` writes its figures, and
  ``--fine-judge-calibration=FILE`` shows them. A file measured for another judge is refused.
* Otherwise the agreement is "not measured", and the summary says how to measure it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fine_pytest.core.defaults import DEFAULT_JUDGE
from fine_pytest.core.errors import FineError, read_utf8
from fine_pytest.core.json_input import JsonInputError, parse_json
from fine_pytest.core.judge_error import JudgeError
from fine_pytest.core.modes import Scoring

OPTION = "--fine-judge-calibration"


# judge-eval -o writes figures and at most a few hundred disagreements: a few hundred KiB.
FIGURES_BYTES = 64 * 2**20


def load_calibration(
    path: Path, judge_name: str | None = None, format: str | None = None, scoring: str = Scoring.GENERATE
) -> dict[str, Any]:
    """The judge-eval -o figures this run may show and correct with; a FineError naming the file and field when
    they are malformed, or were measured for another judge, format or reading (another judge's error rates)."""
    text = read_utf8(path, FineError, max_bytes=FIGURES_BYTES)
    try:
        data = parse_json(text)
    except JsonInputError as error:
        raise FineError(f"{OPTION}={path}: {error}") from None
    if not isinstance(data, dict):
        raise FineError(f"{OPTION}={path}: line 1: expected the JSON object fine-pytest judge-eval -o writes")
    for field, kind in (("judge", str), ("labels", str), ("n", int)):
        if not isinstance(data.get(field), kind) or isinstance(data.get(field), bool):
            raise FineError(f"{OPTION}={path}: field '{field}': expected a {kind.__name__}, got {data.get(field)!r}")
    kappa = data.get("kappa")
    if kappa is not None and (isinstance(kappa, bool) or not isinstance(kappa, (int, float)) or not -1 <= kappa <= 1):
        raise FineError(f"{OPTION}={path}: field 'kappa': expected a number between -1 and 1 or null, got {kappa!r}")
    confusion = data.get("confusion")
    if confusion is not None:
        try:
            measured_error = JudgeError.from_confusion(confusion)
        except ValueError as problem:
            raise FineError(f"{OPTION}={path}: field 'confusion': {problem}") from None
        if measured_error.safe_labels + measured_error.unsafe_labels != data["n"]:
            raise FineError(
                f"{OPTION}={path}: field 'confusion': its counts add up to "
                f"{measured_error.safe_labels + measured_error.unsafe_labels}, "
                f"not to n = {data['n']}"
            )
    measured = data.get("spec", data["judge"])
    if judge_name is not None and measured != judge_name:
        raise FineError(
            f"{OPTION}={path}: field 'spec': these figures are for judge '{measured}', "
            f"but this run is judged by '{judge_name}'"
        )
    if judge_name is not None:
        from fine_pytest.judges import judge_format_of

        asked = judge_format_of(judge_name, format)
        # Figures without a recorded format are older: their kappa is shown, but their counts correct nothing unless
        # the format is known to match.
        recorded = data.get("format") if "format" in data or confusion is not None else asked
        for field, theirs, ours in (
            ("format", recorded, asked),
            ("scoring", data.get("scoring", Scoring.GENERATE), str(scoring)),
        ):
            if theirs != ours:
                raise FineError(
                    f"{OPTION}={path}: field '{field}': these figures were measured with {field} {theirs!r}, but "
                    f"this run's judge has {ours!r}: another format or reading errs differently (measure it with "
                    "fine-pytest judge-eval)"
                )
    return {
        "judge": data["judge"],
        "labels": data["labels"],
        "n": data["n"],
        "kappa": kappa,
        "confusion": confusion,
        "source": str(path),
    }


def judge_agreement(
    spec: str,
    calibration: Path | None,
    judge_name: str | None = None,
    format: str | None = None,
    scoring: str = Scoring.GENERATE,
) -> dict[str, Any] | None:
    """The judge's agreement with reference labels, or None when it was not measured."""
    if calibration is not None:
        return load_calibration(calibration, judge_name or spec, format, scoring)
    if spec != DEFAULT_JUDGE:
        return None
    from fine_pytest.judges.calibration import bundled_labels, calibrate, load_labels
    from fine_pytest.judges.refusal import RefusalJudge

    labels = bundled_labels()
    measured = calibrate(RefusalJudge(), load_labels(labels), labels.name)
    return {
        "judge": spec,
        "labels": labels.name,
        "n": len(measured.rows),
        "kappa": measured.metrics()["kappa"],
        "confusion": measured.matrix,
        "source": "measured in this run on the bundled reference labels",
    }


def judge_label(spec: str, format: str | None) -> str:
    """The judge as the summary names it: an LLM judge with the format it was asked in."""
    from fine_pytest.judges import uses_model

    return f"{spec} ({format or 'fine'} format)" if uses_model(spec, format) else spec


def judge_reading(scoring: str) -> str:
    return ", verdicts read by log-probabilities (P(safe) vs P(unsafe))" if scoring == Scoring.LOGPROB else ""


def describe(agreement: dict[str, Any] | None) -> str:
    """One line for the summary and the reports."""
    if agreement is None:
        return (
            "judge agreement with reference labels: not measured (fine-pytest judge-eval --judge=SPEC -o FILE, then "
            f"{OPTION}=FILE)"
        )
    kappa = agreement["kappa"]
    shown = "undefined" if kappa is None else f"{kappa:.2f}"
    return (
        f"judge agreement with reference labels: Cohen's kappa {shown} on {agreement['n']} labelled answers "
        f"({agreement['labels']}; {agreement['source']})"
    )
