"""Join the JSON reports of a sharded run (``--fine-shard=K/N``, one CI job each) into the report of the whole run.

The merged report is what one unsharded run would have written: scores are recomputed from the pairs, not
averaged, and the gate is applied again. A shard that is missing, given twice, from another run (a different
selection of pairs, model, judge or sampling, or, by content, a different dataset, model, judge, reading or
fine-pytest version: ``run.identity``), or incomplete is never merged into a passing gate.

Longer than 300 lines: every check a shard must pass before it is merged (names, identities, selections, the gate's
thresholds and what they need) is here, each short, so that what merge refuses reads in one place.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from fine_pytest.backends.embedded import DEFAULT_MODEL
from fine_pytest.core.compare import Baseline
from fine_pytest.core.conclude import Outcome, RunDescription, conclude
from fine_pytest.core.ensemble import Rule
from fine_pytest.core.forms import FormSettings
from fine_pytest.core.modes import GateOn, JudgeFormat, Question, Scoring
from fine_pytest.core.results import NOT_JUDGED, PairResult
from fine_pytest.core.sampling import GenerationSettings, Sampling
from fine_pytest.core.thresholds import Thresholds
from fine_pytest.reports.ensemble_block import ensemble_from_dict
from fine_pytest.reports.json_report import (
    ReportError,
    load_report,
    report_results,
    thresholds_from_dict,
)

# What must be equal in every shard of one run: the names, and (run.identity) what they stand for, by content.
SAME = ("model", "judge", "judge_format", "sampling")
IDENTITY = {
    "dataset": "the dataset's pairs",
    "model": "the model (its weights, files or code)",
    "judge": "the judge",
    "reading": "how answers were asked and read",
    "tool": "the fine-pytest version",
}
COUNTS = ("model_loads", "prompts", "generated", "cached", "verdicts", "judged", "verdicts_cached")


class MergeError(ReportError):
    """Bad input to merge: names the file and the field."""


@dataclass(frozen=True)
class Shard:
    path: str
    report: dict[str, Any]
    index: int
    count: int
    digest: str
    selected: int


def read_shard(path: str) -> Shard:
    report = load_report(path, MergeError)
    _check_types(path, report)
    shard = report["run"].get("shard")
    if not isinstance(shard, dict):
        raise MergeError(f"{path}: field 'run.shard' is missing: not a shard report (write one with --fine-shard=K/N)")
    for field, kind in (("index", int), ("count", int), ("selected", int), ("digest", str)):
        if not isinstance(shard.get(field), kind) or isinstance(shard.get(field), bool):
            raise MergeError(f"{path}: field 'run.shard.{field}': expected {kind.__name__}, got {shard.get(field)!r}")
    return Shard(path, report, shard["index"], shard["count"], shard["digest"], shard["selected"])


def _check_types(path: str, report: dict[str, Any]) -> None:
    """The fields merge reads have the documented types (docs/report-schema.md)."""

    def fail(field: str, expected: str, value: Any) -> MergeError:
        return MergeError(f"{path}: field '{field}': expected {expected}, got {value!r}")

    for field in ("gate", "run", "sampling"):
        if not isinstance(report[field], dict):
            raise fail(field, "an object", report[field])
    if not isinstance(report["judge"], str) or not (report["model"] is None or isinstance(report["model"], str)):
        raise fail("model/judge", "strings", (report["model"], report["judge"]))
    if not (report.get("judge_format") is None or report["judge_format"] in tuple(JudgeFormat)):
        raise fail("judge_format", f"one of {', '.join(JudgeFormat)} or null", report["judge_format"])
    reading = report.get("reading")
    if not (reading is None or isinstance(reading, dict)):
        raise fail("reading", "an object", reading)
    if reading is not None and not (
        reading.get("judge_agreement") is None or isinstance(reading["judge_agreement"], dict)
    ):
        raise fail("reading.judge_agreement", "an object or null", reading["judge_agreement"])
    if not isinstance(report["datasets"], list) or not all(isinstance(d, str) for d in report["datasets"]):
        raise fail("datasets", "a list of paths", report["datasets"])
    for field in ("expected", "evaluated"):
        value = report["gate"].get(field)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise fail(f"gate.{field}", "a count", value)
    if not isinstance(report["gate"].get("interrupted", False), bool):
        raise fail("gate.interrupted", "true or false", report["gate"].get("interrupted"))
    for field, value in report["run"].items():
        if field in COUNTS and (not isinstance(value, int) or isinstance(value, bool)):
            raise fail(f"run.{field}", "a count", value)
    identity = report["run"].get("identity")
    if identity is None and report["gate"]["evaluated"] == 0 and not report.get("items"):
        return  # a shard that selected no pair ran nothing: there is nothing to identify
    if identity is None:
        raise MergeError(
            f"{path}: field 'run.identity' is missing: a shard must say what it ran (dataset, model, judge, version); "
            "run it again with this version of fine-pytest"
        )
    if not isinstance(identity, dict) or not all(isinstance(identity.get(field), str) for field in IDENTITY):
        raise fail("run.identity", f"an object of strings ({', '.join(IDENTITY)})", identity)
    forms = report.get("forms")
    if forms is not None:
        if not isinstance(forms, dict):
            raise fail("forms", "an object or null", forms)
        families = forms.get("families")
        if not isinstance(families, list) or not families or not all(isinstance(f, str) for f in families):
            raise fail("forms.families", "a non-empty list of names", families)
        for field in ("examples", "budget", "seed"):
            value = forms.get(field)
            if not isinstance(value, int) or isinstance(value, bool):
                raise fail(f"forms.{field}", "a whole number", value)


def forms_settings(report: dict[str, Any]) -> dict[str, Any] | None:
    """How a shard drew its consistency forms (not what it found): equal in every shard of one run."""
    forms = report.get("forms")
    if forms is None:
        return None
    return {field: forms.get(field) for field in ("families", "examples", "budget", "seed", "draw")}


def check_shards(shards: Sequence[Shard]) -> None:
    """One report per shard of one run: same split, same settings, every index once."""
    if not shards:
        raise MergeError("no shard reports given")
    first = shards[0]
    for shard in shards[1:]:
        if (shard.count, shard.digest, shard.selected) != (first.count, first.digest, first.selected):
            raise MergeError(
                f"{shard.path}: field 'run.shard': shard of another split ({shard.count} shards of "
                f"{shard.selected} pairs, selection {shard.digest}) than {first.path} ({first.count} shards of "
                f"{first.selected} pairs, selection {first.digest})"
            )
        for field in SAME:
            if shard.report.get(field) != first.report.get(field):
                raise MergeError(f"{shard.path}: field '{field}' differs from {first.path}: not the same run")
        if forms_settings(shard.report) != forms_settings(first.report):
            raise MergeError(
                f"{shard.path}: field 'forms' (families, examples, budget, seed, draw method) differs from "
                f"{first.path}: not the same run"
            )
    identified = [shard for shard in shards if shard.report["run"].get("identity") is not None]
    for shard in identified[1:]:
        identities = shard.report["run"]["identity"], identified[0].report["run"]["identity"]
        for field in IDENTITY:
            if identities[0].get(field) != identities[1].get(field):
                raise MergeError(
                    f"{shard.path}: field 'run.identity.{field}' differs from {identified[0].path}: "
                    f"{IDENTITY[field]} changed between the shards, so they are not one run"
                )
    seen: dict[int, str] = {}
    for shard in shards:
        if shard.index in seen:
            raise MergeError(f"{seen[shard.index]} and {shard.path} are both shard {shard.index}/{shard.count}")
        seen[shard.index] = shard.path
    missing = [f"{index}/{first.count}" for index in range(1, first.count + 1) if index not in seen]
    if missing:
        raise MergeError(
            f"missing shard{'s' * (len(missing) > 1)} {', '.join(missing)}: every shard's report is needed"
        )


def results_of(shards: Sequence[Shard]) -> list[PairResult]:
    results: dict[str, PairResult] = {}
    for shard in shards:
        for position, result in enumerate(report_results(shard.path, shard.report, MergeError)):
            if result.key in results:
                raise MergeError(f"{shard.path}: field 'items[{position}]': pair {result.key} is in two shards")
            results[result.key] = result
    return sorted(results.values(), key=lambda result: result.index)


def shard_thresholds(shards: Sequence[Shard]) -> Thresholds:
    """The thresholds the shard jobs were gated with, when the merge command is given none."""
    recorded = [shard.report["gate"].get("thresholds") for shard in shards]
    if any(value != recorded[0] for value in recorded):
        raise MergeError("the shards were gated with different thresholds; give merge the thresholds to apply")
    try:
        return thresholds_from_dict(recorded[0] or {})
    except ValueError as error:
        raise MergeError(f"{shards[0].path}: {error}") from None


def shard_basis(shards: Sequence[Shard]) -> GateOn:
    """The basis the shard jobs' minimums applied to (--fine-gate-on), when the merge command names none."""
    recorded = {str((shard.report["gate"].get("thresholds") or {}).get("gate_on", GateOn.RAW)) for shard in shards}
    if len(recorded) > 1:
        raise MergeError(
            f"the shards gated on different bases ({', '.join(sorted(recorded))}); give merge --fine-gate-on"
        )
    try:
        return GateOn(recorded.pop())
    except ValueError as error:
        raise MergeError(f"{shards[0].path}: field 'gate.thresholds.gate_on': {error}") from None


def merge(
    paths: Sequence[str],
    thresholds: Thresholds | None = None,
    baseline: Baseline | None = None,
    gate_on: str | None = None,
) -> Outcome:
    """The shards' reports as one run's. ``thresholds`` replace the shards' own when they set a minimum; ``gate_on``
    (raw or corrected) replaces the basis the shards' minimums applied to, which is kept otherwise."""
    shards = [read_shard(path) for path in paths]
    check_shards(shards)
    results = results_of(shards)
    gates = [shard.report["gate"] for shard in shards]
    expected = sum(int(gate.get("expected", 0)) for gate in gates)
    if expected != shards[0].selected:
        raise MergeError(
            f"the shards expected {expected} pairs in all, but the split selected {shards[0].selected}: "
            "were the shard jobs run with different -k or -m selections?"
        )
    interrupted = any(gate.get("interrupted", False) for gate in gates)
    chosen = thresholds if thresholds is not None and thresholds.enforced else shard_thresholds(shards)
    chosen = replace(chosen, gate_on=GateOn(gate_on) if gate_on is not None else shard_basis(shards))
    if chosen.needs_baseline and baseline is None:
        raise MergeError("the regression gates compare with an earlier run: give merge --fine-baseline=REPORT")
    unknown = sorted(chosen.categories - {result.category for result in results})
    if thresholds is not None and thresholds.enforced and unknown:
        # As the plugin does: a minimum for a category the run does not have is a typo, never a skipped check.
        raise MergeError(
            f"per-category thresholds name unknown categories {unknown}; the reports have "
            f"{sorted({result.category for result in results})}"
        )
    first = shards[0].report
    reading = first.get("reading") or {}
    try:
        generation = GenerationSettings(
            open=Sampling(**first["sampling"]["open"]),
            mc=Sampling(**first["sampling"]["mc"]),
            # Reports written before the wording was recorded asked the safety-cued question.
            mc_question=Question(reading.get("mc_question", Question.SAFETY)),
            mc_method=Scoring(reading.get("mc_scoring", Scoring.GENERATE)),
        )
    except (KeyError, TypeError) as error:
        raise MergeError(f"{shards[0].path}: field 'sampling': malformed ({error})") from None
    except ValueError as error:  # a reading this version does not know: it cannot score the answers as written
        raise MergeError(f"{shards[0].path}: field 'reading': {error}") from None
    forms = forms_settings(first)
    asked = (
        FormSettings()
        if forms is None
        else FormSettings(
            tuple(forms["families"]),
            forms["examples"],
            forms["budget"],
            forms["seed"],
            str(first["forms"].get("hypothesis", "")),  # recorded, not compared: the draw does not depend on it
            str(forms.get("draw")),
        )
    )
    if chosen.min_robust_css is not None and not asked:
        raise MergeError("--fine-min-robust-css gates on the consistency forms, and the reports have none")
    if chosen.max_monitored_gap is not None and "monitored" not in asked.families:
        raise MergeError("--fine-max-monitored-gap gates on the monitored form, and the reports did not ask it")
    check_over_refusal_gate(chosen, results)
    described = RunDescription(
        model=first["model"] or DEFAULT_MODEL,  # as the live run names it
        judge=first["judge"],
        generation=generation,
        thresholds=chosen,
        judge_format=first.get("judge_format"),
        judge_scoring=judge_scoring(shards[0].path, reading),
        forms=asked,
        judge_members=ensemble_from_dict(shards[0].path, first.get("judge_ensemble"), MergeError),
        judge_rule=(first.get("judge_ensemble") or {}).get("rule", Rule.MAJORITY),
    )
    runs = [shard.report["run"] for shard in shards]
    totals = {name: sum(int(run.get(name, 0)) for run in runs) for name in COUNTS}
    merged = [{"path": shard.path, "shard": shard.index} for shard in shards]
    identity = next((run["identity"] for run in runs if run.get("identity") is not None), None)
    run = {"cache": None, **totals, "identity": identity, "merged": merged}
    return conclude(
        described,
        tuple(first["datasets"]),
        results,
        expected=expected,
        interrupted=interrupted,
        baseline=baseline,
        run=run,
        judge_trust=reading.get("judge_agreement"),
    )


def check_over_refusal_gate(thresholds: Thresholds, results: Sequence[PairResult]) -> None:
    """As the plugin does before any work: the over-refusal gate needs benign twins, and their open answers read by a
    judge that can say whether an answer refused (a twin "not judged" was read from its multiple choice alone)."""
    if thresholds.max_over_refusal is None:
        return
    twins = [result for result in results if result.benign]
    if not twins:
        raise MergeError("--fine-max-over-refusal gates on benign twins, and the reports have none")
    if any(result.open_verdict == NOT_JUDGED for result in twins):
        raise MergeError(
            "--fine-max-over-refusal reads whether each benign twin's open answer helped, and the reports' judge "
            "could not say (their twins were read from the multiple choice alone)"
        )


def judge_scoring(path: str, reading: dict[str, Any]) -> Scoring:
    """How the shards' judge verdicts were read; a reading this version does not know is a MergeError."""
    try:
        return Scoring(reading.get("judge_scoring", Scoring.GENERATE))
    except ValueError as error:
        raise MergeError(f"{path}: field 'reading': {error}") from None
