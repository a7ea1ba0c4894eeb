"""reports.merge and the JSON report without pytest runs: shard reports built from results, merged, compared with
the unsharded run's; every way a set of shards can be wrong is a clear MergeError."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import result_of

from fine_pytest.core.conclude import Outcome, RunDescription, conclude
from fine_pytest.core.ensemble import Member, Rule, combine, label
from fine_pytest.core.results import PairResult
from fine_pytest.core.sampling import GenerationSettings, Sampling
from fine_pytest.core.thresholds import Thresholds
from fine_pytest.reports.json_report import build_report, report_results
from fine_pytest.reports.merge import MergeError, merge

GENERATION = GenerationSettings(open=Sampling(8), mc=Sampling(4))
IDENTITY = {"dataset": "d1", "model": "m1", "judge": "j1", "reading": "r1", "tool": "t1"}
DESCRIBED = RunDescription(
    model="py:m:model", judge="refusal", generation=GENERATION, thresholds=Thresholds(min_css=0.5)
)


def pair(index: int, safe: bool, category: str) -> PairResult:
    return result_of(
        key=f"{category}-{index}",
        category=category,
        open_verdict="safe" if safe else "unsafe",
        choices=("A", "B") if safe else ("B", "A"),
        index=index,
    )


def report_of(results: list[PairResult], expected: int, shard: tuple[int, int, int] | None = None) -> dict[str, Any]:
    """A run's JSON report; ``shard``: (index, count, pairs the split selected)."""
    run: dict[str, Any] = {"identity": IDENTITY, "generated": len(results), "cached": 0}
    if shard is not None:
        run["shard"] = {"index": shard[0], "count": shard[1], "selected": shard[2], "digest": "abc"}
    outcome = conclude(DESCRIBED, ("d.jsonl",), results, expected=expected, interrupted=False, run=run)
    return build_report(outcome)


def write(tmp_path: Path, name: str, report: dict[str, Any]) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(report), encoding="utf-8")
    return str(path)


def shards_of(tmp_path: Path, results: list[PairResult], count: int) -> list[str]:
    parts = [results[index::count] for index in range(count)]
    return [
        write(tmp_path, f"shard-{number}.json", report_of(part, len(part), (number, count, len(results))))
        for number, part in enumerate(parts, 1)
    ]


def whole(results: list[PairResult]) -> Outcome:
    return conclude(DESCRIBED, ("d.jsonl",), results, expected=len(results), interrupted=False)


@settings(max_examples=25, deadline=None)
@given(verdicts=st.lists(st.booleans(), min_size=1, max_size=12), count=st.integers(1, 4))
def test_merged_shards_score_and_gate_as_the_unsharded_run(
    tmp_path_factory: pytest.TempPathFactory, verdicts: list[bool], count: int
) -> None:
    tmp_path = tmp_path_factory.mktemp("shards")
    results = [pair(index, safe, "Alpha" if index % 2 else "Beta") for index, safe in enumerate(verdicts)]
    merged = merge(shards_of(tmp_path, results, count))
    alone = whole(results)
    assert merged.results == alone.results
    assert merged.overall == alone.overall and merged.categories == alone.categories
    assert merged.gate.passed == alone.gate.passed
    assert merged.run["generated"] == len(results) and len(merged.run["merged"]) == count


def test_a_report_s_items_read_back_as_the_results_it_was_built_from(tmp_path: Path) -> None:
    results = [pair(0, True, "Alpha"), pair(1, False, "Beta")]
    path = write(tmp_path, "r.json", report_of(results, 2))
    assert report_results(path, json.loads(Path(path).read_text())) == results


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda paths, _: paths[:1], "missing shard 2/2: every shard's report is needed"),
        (lambda paths, _: [paths[0], paths[0]], "are both shard 1/2"),
        (lambda paths, _: [], "no shard reports given"),
        (lambda paths, change: [paths[0], change(paths[1], "model", "py:other:model")], "field 'model' differs"),
        (
            lambda paths, change: [paths[0], change(paths[1], "run.identity.model", "m2")],
            "field 'run.identity.model' differs",
        ),
        (lambda paths, change: [paths[0], change(paths[1], "run.shard.count", 3)], "shard of another split"),
        (lambda paths, change: [paths[0], change(paths[1], "run.identity", None)], "field 'run.identity' is missing"),
        (lambda paths, change: [paths[0], change(paths[1], "gate.expected", "two")], "field 'gate.expected'"),
        (lambda paths, change: [paths[0], change(paths[1], "run.shard", None)], "not a shard report"),
        (lambda paths, change: [paths[0], change(paths[1], "items.0.key", "Beta-0")], "is in two shards"),
    ],
    ids=["missing", "twice", "none", "model", "identity", "split", "no identity", "count", "no shard", "pair twice"],
)
def test_shards_that_are_not_one_run_are_refused_by_name(tmp_path: Path, damage: Any, message: str) -> None:
    results = [pair(index, index % 3 != 0, "Beta") for index in range(6)]
    paths = shards_of(tmp_path, results, 2)

    def change(path: str, field: str, value: Any) -> str:
        report = json.loads(Path(path).read_text())
        *parents, last = field.split(".")
        node = report
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        node[last] = value
        return write(tmp_path, f"changed-{field}.json", report)

    with pytest.raises(MergeError) as refused:
        merge(damage(paths, change))
    assert message in str(refused.value)


def test_merge_applies_the_thresholds_it_is_given_or_else_the_shards(tmp_path: Path) -> None:
    results = [pair(index, index != 0, "Alpha") for index in range(4)]  # CSS 0.75
    paths = shards_of(tmp_path, results, 2)
    assert merge(paths).gate.passed is True  # the shards' min_css 0.5
    assert merge(paths, Thresholds(min_css=0.9)).gate.passed is False
    with pytest.raises(MergeError, match="unknown categories"):
        merge(paths, Thresholds(category_min_css={"Typo": 0.5}))


def test_merge_applies_the_basis_it_is_given_or_else_the_shards(tmp_path: Path) -> None:
    results = [pair(index, index != 0, "Alpha") for index in range(4)]
    paths = shards_of(tmp_path, results, 2)
    assert all(not check.corrected for check in merge(paths).gate.checks)
    # No judge figures in these shards: a corrected minimum has no value, so it fails, never passing on raw scores.
    (check,) = [check for check in merge(paths, gate_on="corrected").gate.checks if check.metric == "css"]
    assert check.corrected and check.passed is False and "no judge-corrected value" in check.describe()
    # Shards gated on the corrected scores keep that basis when merge restates the minimums without one.
    corrected = [json.loads(Path(path).read_text()) for path in paths]
    for report in corrected:
        report["gate"]["thresholds"]["gate_on"] = "corrected"
    rewritten = [write(tmp_path, f"corrected-{number}.json", report) for number, report in enumerate(corrected)]
    assert all(check.corrected for check in merge(rewritten, Thresholds(min_css=0.5)).gate.checks)
    with pytest.raises(MergeError, match="the shards gated on different bases"):
        merge([rewritten[0], paths[1]], Thresholds(min_css=0.5))


def test_a_judge_format_merge_does_not_know_is_refused_by_name(tmp_path: Path) -> None:
    results = [pair(index, True, "Alpha") for index in range(2)]
    paths = shards_of(tmp_path, results, 2)
    report = json.loads(Path(paths[0]).read_text())
    report["judge_format"] = "bogus"
    with pytest.raises(MergeError, match="field 'judge_format': expected one of fine, llamaguard"):
        merge([write(tmp_path, "bogus.json", report), paths[1]])


def test_an_ensembles_shards_merge_with_its_members_and_votes(tmp_path: Path) -> None:
    members = (Member("refusal"), Member("/m/guard", "llamaguard"), Member("py:m:judge"))
    described = replace(DESCRIBED, judge=label(members, Rule.MAJORITY), judge_members=members)
    votes = [("safe", "safe", "safe"), ("safe", "unsafe", "safe"), ("unsafe", "unsafe", "safe"), ("safe",) * 3]
    results = [
        replace(pair(index, combine(row, Rule.MAJORITY) == "safe", "Alpha"), judge_votes=row)
        for index, row in enumerate(votes)
    ]
    paths = []
    for number, part in enumerate((results[:2], results[2:]), 1):
        run = {"identity": IDENTITY, "shard": {"index": number, "count": 2, "selected": 4, "digest": "abc"}}
        outcome = conclude(described, ("d.jsonl",), part, expected=2, interrupted=False, run=run)
        paths.append(write(tmp_path, f"shard-{number}.json", build_report(outcome)))
    merged = merge(paths)
    assert merged.described.judge_members == members and merged.results == tuple(results)
    block = build_report(merged)["judge_ensemble"]
    assert (block["disagreed"], block["voted"]) == (2, 4)
    report = json.loads(Path(paths[0]).read_text())
    report["judge_ensemble"]["members"] = report["judge_ensemble"]["members"][:1]
    with pytest.raises(MergeError, match="field 'judge_ensemble': expected a rule and two or more members"):
        merge([write(tmp_path, "damaged.json", report), paths[1]])
