"""The JSON report (schema documented in docs/report-schema.md). Users parse it in CI, so fields only get added."""

from __future__ import annotations

import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fine_pytest.core.choice import reader_of
from fine_pytest.core.compare import Baseline
from fine_pytest.core.conclude import Outcome
from fine_pytest.core.errors import FineError, read_utf8
from fine_pytest.core.json_input import JsonInputError, parse_json
from fine_pytest.core.metrics import unread_reasons
from fine_pytest.core.modes import GateOn, Scoring
from fine_pytest.core.monitored import gap_to_dict
from fine_pytest.core.outputs import output_problem
from fine_pytest.core.prompts import LETTERS
from fine_pytest.core.results import OPEN_VERDICTS, PairResult
from fine_pytest.core.sampling import GenerationSettings
from fine_pytest.core.thresholds import Thresholds
from fine_pytest.core.version import __version__
from fine_pytest.judges import judge_sampling
from fine_pytest.reports.ensemble_block import ensemble_block

SCHEMA = 1
REQUIRED = ("model", "judge", "datasets", "sampling", "gate", "items", "run")


class ReportError(FineError):
    """A JSON report that cannot be read back: names the file and the field."""


def load_report(path: str | Path, error: type[ReportError] = ReportError) -> dict[str, Any]:
    """A FINE report written by --fine-report (or merge), with its top-level fields present."""
    text = read_utf8(path, error)
    try:
        report = parse_json(text)
    except JsonInputError as problem:
        raise error(f"{path}: {problem}") from None
    if not isinstance(report, dict):
        raise error(f"{path}: line 1: expected a FINE report (a JSON object)")
    if report.get("schema") != SCHEMA:
        raise error(f"{path}: field 'schema': expected {SCHEMA}, got {report.get('schema')!r}")
    for field in REQUIRED:
        if field not in report:
            raise error(f"{path}: field '{field}' is missing: not a FINE report")
    return report


def report_results(
    path: str | Path, report: dict[str, Any], error: type[ReportError] = ReportError
) -> list[PairResult]:
    """The report's items as results, each checked: a hand-edited or truncated report fails here, by item."""
    items = report["items"]
    if not isinstance(items, list):
        raise error(f"{path}: field 'items': expected a list")
    results: list[PairResult] = []
    seen: set[str] = set()
    for position, item in enumerate(items):
        where = f"{path}: field 'items[{position}]'"
        try:
            result = PairResult.from_dict(item)
        except (KeyError, TypeError, ValueError) as problem:
            raise error(f"{where}: malformed ({type(problem).__name__}: {problem})") from None
        if result.open_verdict not in OPEN_VERDICTS or any(c not in (*LETTERS, None) for c in result.mc_choices):
            raise error(f"{where}: a verdict outside {OPEN_VERDICTS} or a choice outside {LETTERS}")
        texts = (result.key, result.category, result.question, result.open_response, *result.mc_responses)
        if not all(isinstance(text, str) for text in (*texts, result.positive, result.negative)):
            raise error(f"{where}: key, category, question and responses must be strings")
        if result.key in seen:
            raise error(f"{where}: pair {result.key} is listed twice")
        seen.add(result.key)
        results.append(result)
    return results


def build_report(outcome: Outcome) -> dict[str, Any]:
    settings = outcome.described
    return {
        "schema": SCHEMA,
        "tool": {"name": "fine-pytest", "version": __version__},
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "model": settings.model,
        "judge": settings.judge,
        "judge_format": settings.judge_format,
        "datasets": list(outcome.datasets),
        "sampling": {
            "open": settings.generation.open.to_dict(),
            "mc": settings.generation.mc.to_dict(),
        },
        "reading": {
            **reading(
                settings.generation,
                outcome.judge_trust,
                settings.judge_scoring,
                judge_sampling(settings.judge, settings.judge_format),
            ),
            "mc_unread": unread_reasons(outcome.results),
        },
        "overall": outcome.overall.to_dict(),
        "categories": {name: scores.to_dict() for name, scores in outcome.categories.items()},
        "judge_correction": outcome.correction.to_dict(),
        **({"judge_ensemble": ensemble_block(outcome)} if settings.judge_members else {}),
        "gate": {
            **outcome.gate.to_dict(),
            "thresholds": thresholds_to_dict(settings.thresholds),
            "power": outcome.power.to_dict() if outcome.power is not None else None,
        },
        "run": outcome.run,
        "baseline": outcome.comparison.to_dict() if outcome.comparison is not None else None,
        "forms": forms_block(outcome),
        "repeats": outcome.repeats.to_dict() if outcome.repeats is not None else None,
        "over_refusal": outcome.over_refusal.to_dict() if outcome.over_refusal is not None else None,
        "items": [result.to_dict() for result in outcome.results],
    }


def forms_block(outcome: Outcome) -> dict[str, Any] | None:
    """The consistency forms: how they were drawn and read, CS/CSS per form and robust CSS, overall and per
    category, prompts per form and the shrink's work. None when no forms were asked."""
    if outcome.forms is None:
        return None
    from fine_pytest.core import forms
    from fine_pytest.pipeline.forms import MAX_ROUNDS

    asked = outcome.described.forms
    prompts = {family: 0 for family in asked.families}
    shrink = {"pairs": 0, "rounds": 0, "prompts": 0, "exhausted": 0, "max_rounds": MAX_ROUNDS}
    for result in outcome.results:
        for form in result.forms:
            prompts[form.family] = prompts.get(form.family, 0) + sum(len(v.answers) for v in form.variants)
            if form.shrink is not None:
                shrink["pairs"] += 1
                shrink["rounds"] = max(shrink["rounds"], form.shrink.rounds)
                shrink["prompts"] += form.shrink.prompts
                shrink["exhausted"] += form.shrink.exhausted
    # Built-in families only: a user's family may be registered in one process and not in another (the xdist
    # controller, merge), and every report of one run must say the same.
    summaries = {name: forms.FAMILIES[name].summary if name in forms.BUILT_IN else None for name in asked.families}
    return {
        **asked.to_dict(),
        "descriptions": summaries,
        "readers": form_readers(outcome.described.generation.mc_method),
        **outcome.forms.to_dict(),
        "prompts": prompts,
        "shrink": shrink,
        **({"monitored_gap": gap_to_dict(outcome.monitored)} if "monitored" in asked.families else {}),
    }


def form_readers(mc_method: str) -> dict[str, str]:
    """How the forms' answers were read: as text by the strict readers, or by their labels' probabilities."""
    from fine_pytest.core import yes_no
    from fine_pytest.core.choice import DECLINED_BELOW

    if mc_method == Scoring.LOGPROB:
        scored = (
            "log-probabilities: P({}) vs P({}) right after the format's opening (or as the reply's first token when "
            f"the format has none); declined when the two hold under {DECLINED_BELOW:g}"
        )
        return {"choice": scored.format("first label", "second label"), "yes_no": scored.format("yes", "no")}
    return {"choice": reader_of(Scoring.GENERATE), "yes_no": yes_no.READER}


def reading(
    generation: GenerationSettings,
    judge_trust: dict[str, Any] | None,
    judge_scoring: str = Scoring.GENERATE,
    judge_sampling: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """How every number was read: the MC question and reader, the judge's reading and decoding, how far it agrees
    with the labels."""
    return {
        "judge_scoring": judge_scoring,
        "judge_sampling": judge_sampling,
        "mc_question": generation.mc_question,
        "mc_scoring": generation.mc_method,
        "mc_reader": reader_of(generation.mc_method),
        "judge_agreement": judge_trust,
    }


def thresholds_to_dict(thresholds: Thresholds) -> dict[str, Any]:
    """The configured minimums, so that ``fine-pytest merge`` can apply the same gate to joined shards."""
    return {
        "min_cs": thresholds.min_cs,
        "min_css": thresholds.min_css,
        "category_min_cs": dict(sorted(thresholds.category_min_cs.items())),
        "category_min_css": dict(sorted(thresholds.category_min_css.items())),
        "max_regressions": thresholds.max_regressions,
        "drop_alpha": thresholds.drop_alpha,
        "min_robust_css": thresholds.min_robust_css,
        "min_css_all_repeats": thresholds.min_css_all_repeats,
        "max_over_refusal": thresholds.max_over_refusal,
        "max_monitored_gap": thresholds.max_monitored_gap,
        "gate_on": str(thresholds.gate_on),
    }


def thresholds_from_dict(data: Any, where: str = "gate.thresholds") -> Thresholds:
    """The gate a report recorded; ValueError naming the field when a value has the wrong type."""
    if not isinstance(data, dict):
        raise ValueError(f"field '{where}': expected an object, got {data!r}")

    def number(value: Any) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool)

    limits = ("min_cs", "min_css", "drop_alpha", "min_robust_css", "min_css_all_repeats", "max_over_refusal")
    for name in (*limits, "max_monitored_gap"):
        if data.get(name) is not None and not number(data[name]):
            raise ValueError(f"field '{where}.{name}': expected a number or null, got {data[name]!r}")
    regressions = data.get("max_regressions")
    if regressions is not None and (isinstance(regressions, bool) or not isinstance(regressions, int)):
        raise ValueError(f"field '{where}.max_regressions': expected a count or null, got {regressions!r}")
    for name in ("category_min_cs", "category_min_css"):
        table = data.get(name) or {}
        if not isinstance(table, dict) or not all(isinstance(k, str) and number(v) for k, v in table.items()):
            raise ValueError(f"field '{where}.{name}': expected category names with numbers, got {table!r}")
    gate_on = data.get("gate_on", GateOn.RAW)  # reports older than the option gated on the raw scores
    if gate_on not in tuple(GateOn):
        raise ValueError(f"field '{where}.gate_on': expected one of {', '.join(GateOn)}, got {gate_on!r}")
    return Thresholds(
        gate_on=GateOn(gate_on),
        min_cs=data.get("min_cs"),
        min_css=data.get("min_css"),
        category_min_cs=dict(data.get("category_min_cs") or {}),
        category_min_css=dict(data.get("category_min_css") or {}),
        max_regressions=data.get("max_regressions"),
        drop_alpha=data.get("drop_alpha"),
        min_robust_css=data.get("min_robust_css"),
        min_css_all_repeats=data.get("min_css_all_repeats"),
        max_over_refusal=data.get("max_over_refusal"),
        max_monitored_gap=data.get("max_monitored_gap"),
    )


def write_report(report: dict[str, Any], path: Path) -> None:
    write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", path)


def write_text(text: str, path: Path) -> None:
    """Write atomically, so a reader (or a killed run) never sees half a report. Only a new path or a regular file
    is written (reports.outputs): a symlink, a pipe or a device is refused with a FineError."""
    write_texts({path: text})


def write_texts(files: dict[Path, str]) -> None:
    """Write several files so that either all of them are replaced or none: each goes to a temporary file first,
    and only when every one is written are they renamed into place."""
    for path in files:
        problem = output_problem(path)
        if problem is not None:
            raise FineError(f"{path}: {problem}")
    staged: list[tuple[str, Path]] = []
    try:
        for path, text in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            staged.append((temporary, path))
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                stream.write(text)
            # mkstemp creates the file 0600; give it the mode any other new file would get.
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(temporary, 0o666 & ~umask)
        for temporary, path in staged:
            os.replace(temporary, path)
    except BaseException:
        for temporary, _ in staged:
            Path(temporary).unlink(missing_ok=True)
        raise


def load_baseline(path: str | Path) -> Baseline:
    """Read and check a report as a baseline; raise ReportError naming the file and the field."""
    report = load_report(path)
    results = report_results(path, report)
    model, judge, created = report.get("model"), report.get("judge"), report.get("created")
    for field, value in (("model", model), ("judge", judge), ("created", created)):
        if value is not None and not isinstance(value, str):
            raise ReportError(f"{path}: field '{field}': expected a string, got {value!r}")
    gate, run = report["gate"], report["run"]
    complete = (
        isinstance(gate, dict)
        and gate.get("complete", True) is True
        and not (isinstance(run, dict) and run.get("shard"))
    )
    forms = report.get("forms")
    draw = forms.get("draw") if isinstance(forms, dict) else None
    return Baseline(str(path), model, judge, created, tuple(results), complete, draw if isinstance(draw, str) else None)
