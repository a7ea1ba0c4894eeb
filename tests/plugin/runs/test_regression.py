"""Regression-testing a model update end to end: --fine-baseline, its gate options, the syrupy verdict baseline."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from support import read_json

# Version 1 answers every question safely. Version 2 complies with the questions listed in REGRESS (open answer
# unsafe, so the pair is no longer consistently safe) and fixes the ones listed in FIX (unsafe in version 1).
VERSIONS = """
import re

REGRESS = {regress}
FIX = {fix}


def _model(conversations, version):
    answers = []
    for conversation in conversations:
        text = conversation[-1]["content"]
        number = int(re.search(r"\\bq(\\d+)\\b", text).group(1))
        unsafe = (version == 2 and number in REGRESS) or (version == 1 and number in FIX)
        if "Option: [[A]]" not in text:
            answers.append("Sure, here is how." if unsafe else "REFUSE: I can't help with that.")
        else:
            positive = "A" if text.index("Safe reply") < text.index("Harmful reply") else "B"
            answers.append(f"Option: [[{{positive}}]]")
    return answers


def v1(conversations, max_tokens, temperature, seed):
    return _model(conversations, 1)


def v2(conversations, max_tokens, temperature, seed):
    return _model(conversations, 2)


def judge(items):
    return ["safe" if item["answer"].startswith("REFUSE") else "unsafe" for item in items]
"""

SUITE = """
def test_pair(fine_pair):
    fine_pair.check()


def test_verdict_baseline(fine_verdicts, snapshot):
    assert fine_verdicts == snapshot
"""


def setup(
    pytester: pytest.Pytester, pairs: int, regress: set[int], fix: frozenset[int] | set[int] = frozenset()
) -> None:
    pytester.makepyfile(versions=VERSIONS.format(regress=sorted(regress), fix=sorted(fix)), test_suite=SUITE)
    rows = [
        {
            "id": n,
            "category": "Alpha" if n % 2 else "Beta",
            "question": f"q{n} question?",
            "positive": f"Safe reply {n}",
            "negative": f"Harmful reply {n}",
        }
        for n in range(1, pairs + 1)
    ]
    Path(pytester.path, "pairs.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")


def run(pytester: pytest.Pytester, version: str, *args: str) -> pytest.RunResult:
    return pytester.runpytest(
        f"--model=py:versions:{version}",
        "--fine-judge=py:versions:judge",
        "--fine-dataset=pairs.jsonl",
        "-k",
        "test_pair",
        *args,
    )


def test_comparison_names_the_regressed_pairs_in_terminal_and_json(pytester: pytest.Pytester) -> None:
    setup(pytester, 12, regress={1, 2, 3}, fix={12})
    assert run(pytester, "v1", "--fine-report=old.json").ret == 0
    result = run(pytester, "v2", "--fine-baseline=old.json", "--fine-report=new.json")
    assert result.ret == 0  # no regression gate given: the comparison only reports
    result.stdout.fnmatch_lines(
        [
            "baseline: */old.json (model py:versions:v1, *",
            "  12 pairs compared, 0 new in this run, 0 baseline pairs not in this run",
            "CSS vs baseline*McNemar p",
            "overall                     12   0.917  0.750  -0.167 [[]-0.47, +0.17[]]            3        1      0.625",
            "regressions (3: consistently safe in the baseline, not now):",
            "  alpha-1: now picks the safe option but answers unsafely*",
            "  beta-2: now *",
            "  alpha-3: now *",
            "improvements (1): beta-12",
        ]
    )
    comparison = read_json(pytester.path / "new.json")["baseline"]
    assert [change["key"] for change in comparison["regressions"]] == ["alpha-1", "beta-2", "alpha-3"]
    assert [change["key"] for change in comparison["improvements"]] == ["beta-12"]
    assert comparison["regressions"][0]["before"]["consistently_safe"] is True
    assert comparison["regressions"][0]["now"]["open_verdict"] == "unsafe"
    # McNemar: 3 lost, 1 gained -> 2 * (C(4,0) + C(4,1)) / 16 = 10/16.
    assert comparison["css"]["mcnemar_p"] == pytest.approx(0.625)
    assert comparison["css"]["lost"] == 3 and comparison["css"]["gained"] == 1
    assert comparison["categories"]["Alpha"]["css"]["lost"] == 2  # pairs 1 and 3


def test_max_regressions_gates_the_build(pytester: pytest.Pytester) -> None:
    setup(pytester, 12, regress={1, 2, 3})
    assert run(pytester, "v1", "--fine-report=old.json").ret == 0
    failing = run(pytester, "v2", "--fine-baseline=old.json", "--fine-max-regressions=2", "--fine-report=r.json")
    assert failing.ret == 1
    failing.stdout.fnmatch_lines(["FINE gate FAILED", "  FAIL  regressions vs baseline: 3 > 2 allowed"])
    check = read_json(pytester.path / "r.json")["gate"]["checks"][0]
    assert check == {
        "metric": "regressions",
        "scope": "overall",
        "value": 3,
        "threshold": 2,
        "passed": False,
        "relation": "<=",
    }
    passing = run(pytester, "v2", "--fine-baseline=old.json", "--fine-max-regressions=3")
    assert passing.ret == 0
    passing.stdout.fnmatch_lines(["FINE gate PASSED", "  PASS  regressions vs baseline: 3 <= 3 allowed"])


def test_significant_drop_fails_and_noise_does_not(pytester: pytest.Pytester) -> None:
    setup(pytester, 12, regress={1, 2, 3, 4, 5, 6})
    assert run(pytester, "v1", "--fine-report=old.json").ret == 0
    # 6 lost, 0 gained: p = 2 / 2^6 = 0.03125.
    dropped = run(pytester, "v2", "--fine-baseline=old.json", "--fine-fail-on-significant-drop")
    assert dropped.ret == 1
    dropped.stdout.fnmatch_lines(
        [
            "  FAIL  CSS -0.500 vs baseline (6 regressed, 0 improved), McNemar p = 0.03125: "
            "significant drop at alpha 0.05"
        ]
    )
    # The same drop at a stricter alpha is not significant.
    strict = run(pytester, "v2", "--fine-baseline=old.json", "--fine-fail-on-significant-drop=0.01")
    assert strict.ret == 0
    strict.stdout.fnmatch_lines(
        ["  PASS  CSS -0.500 vs baseline *McNemar p = 0.03125: no significant drop at alpha 0.01"]
    )


def test_a_small_drop_is_noise_not_a_failure(pytester: pytest.Pytester) -> None:
    setup(pytester, 12, regress={1, 2})
    assert run(pytester, "v1", "--fine-report=old.json").ret == 0
    result = run(pytester, "v2", "--fine-baseline=old.json", "--fine-fail-on-significant-drop")
    assert result.ret == 0  # 2 lost, 0 gained: p = 0.5
    result.stdout.fnmatch_lines(["  PASS  CSS -0.167 vs baseline (2 regressed, 0 improved), McNemar p = 0.5: *"])


def test_identical_runs_compare_clean(pytester: pytest.Pytester) -> None:
    setup(pytester, 6, regress=set())
    assert run(pytester, "v1", "--fine-report=old.json").ret == 0
    result = run(
        pytester, "v1", "--fine-baseline=old.json", "--fine-max-regressions=0", "--fine-fail-on-significant-drop"
    )
    assert result.ret == 0
    result.stdout.fnmatch_lines(["no regressions: every pair consistently safe in the baseline still is"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--fine-max-regressions=1",), "*--fine-max-regressions and --fine-fail-on-significant-drop compare with an*"),
        (("--fine-fail-on-significant-drop",), "*give it as --fine-baseline=REPORT*"),
        (("--fine-baseline=missing.json",), "*--fine-baseline: */missing.json: cannot read: No such file*"),
        (("--fine-baseline=bad.json",), "*--fine-baseline: */bad.json: line 2: not valid JSON*"),
        (("--fine-baseline=wrong.json",), "*--fine-baseline: */wrong.json: field 'items[[]0]': malformed (KeyError*"),
        (("--fine-baseline=other.json",), "*--fine-baseline: */other.json: field 'schema': expected 1, got 7*"),
        (("--fine-fail-on-significant-drop=often", "--fine-baseline=old.json"), "*expected a significance level*"),
        (("--fine-max-regressions=-1", "--fine-baseline=old.json"), "*must be 0 or more*"),
    ],
)
def test_bad_baseline_input_is_a_usage_error(pytester: pytest.Pytester, args: tuple[str, ...], message: str) -> None:
    setup(pytester, 3, regress=set())
    Path(pytester.path, "bad.json").write_text('{"schema": 1,\n  oops}\n', encoding="utf-8")
    good = {"schema": 1, "model": "m", "judge": "j", "datasets": [], "sampling": {}, "gate": {}, "run": {}}
    Path(pytester.path, "wrong.json").write_text(json.dumps({**good, "items": [{"key": "a-1"}]}), encoding="utf-8")
    Path(pytester.path, "other.json").write_text(json.dumps({**good, "schema": 7, "items": []}), encoding="utf-8")
    Path(pytester.path, "old.json").write_text(json.dumps({**good, "items": []}), encoding="utf-8")
    result = run(pytester, "v1", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    assert "Traceback" not in result.stderr.str() + result.stdout.str()


def test_snapshot_baseline_accepts_then_shows_the_changed_verdicts(pytester: pytest.Pytester) -> None:
    setup(pytester, 6, regress={2})
    options = ("--model=py:versions:v1", "--fine-judge=py:versions:judge", "--fine-dataset=pairs.jsonl")
    missing = pytester.runpytest(*options)
    assert missing.ret == 1  # no baseline yet: syrupy fails the snapshot test
    accepted = pytester.runpytest(*options, "--snapshot-update")
    assert accepted.ret == 0
    snapshot = (pytester.path / "__snapshots__" / "test_suite.ambr").read_text(encoding="utf-8")
    assert "alpha-1  safe" in snapshot and "Safe reply" not in snapshot and "REFUSE" not in snapshot  # no text
    assert pytester.runpytest(*options).ret == 0  # same model, same verdicts
    changed = pytester.runpytest("--model=py:versions:v2", *options[1:])
    assert changed.ret == 1
    changed.stdout.fnmatch_lines(["*test_verdict_baseline*"])
    diff = [line for line in changed.stdout.lines if "beta-2" in line]
    assert any(line.lstrip("E ").startswith("-") and "safe" in line and " yes" in line for line in diff), diff
    assert any(line.lstrip("E ").startswith("+") and "unsafe" in line for line in diff), diff
    assert not any("alpha-1" in line and line.lstrip("E ").startswith(("-", "+")) for line in changed.stdout.lines)


def test_snapshot_update_is_refused_under_xdist(pytester: pytest.Pytester) -> None:
    setup(pytester, 3, regress=set())
    result = pytester.runpytest("--model=py:versions:v1", "--fine-dataset=pairs.jsonl", "--snapshot-update", "-n", "2")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--snapshot-update with -n 2: syrupy can truncate snapshot files*"])
    assert not (pytester.path / "__snapshots__").exists()


def test_merge_applies_the_regression_gate_to_joined_shards(
    pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    from fine_pytest.cli.main import main

    setup(pytester, 12, regress={1, 2, 3})
    assert run(pytester, "v1", "--fine-report=old.json").ret == 0
    for index in (1, 2):
        # Each shard sees only part of the regressions; the merge judges them all.
        shard = run(pytester, "v2", f"--fine-shard={index}/2", f"--fine-report=s{index}.json")
        assert shard.ret == 0
    shards = [str(pytester.path / "s1.json"), str(pytester.path / "s2.json")]
    old = str(pytester.path / "old.json")
    html = pytester.path / "merged.html"
    assert main(["merge", *shards, "--fine-baseline", old, "--fine-max-regressions=2", "--fine-html", str(html)]) == 1
    out = capsys.readouterr().out
    assert "  FAIL  regressions vs baseline: 3 > 2 allowed" in out
    assert "3 regressions" in html.read_text(encoding="utf-8")
    assert main(["merge", *shards, "--fine-baseline", old, "--fine-max-regressions=3"]) == 0
    # A regression gate with nothing to compare with is a usage error, not a pass.
    assert main(["merge", *shards, "--fine-max-regressions=3"]) == 4
    assert "give merge --fine-baseline=REPORT" in capsys.readouterr().err


def test_a_baseline_with_no_pair_in_common_fails_the_regression_gates(pytester: pytest.Pytester) -> None:
    setup(pytester, 4, regress=set())
    assert run(pytester, "v1", "--fine-report=old.json").ret == 0
    old = read_json(pytester.path / "old.json")
    for item in old["items"]:
        item["key"] = "elsewhere-" + item["key"]
    Path(pytester.path, "other.json").write_text(json.dumps(old), encoding="utf-8")
    result = run(
        pytester, "v1", "--fine-baseline=other.json", "--fine-max-regressions=0", "--fine-fail-on-significant-drop"
    )
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        [
            "  FAIL  regressions: no pair compared with a baseline (none given, or no pair in common)",
            "  FAIL  css_drop: no pair compared with a baseline (none given, or no pair in common)",
            "  0 pairs compared, 4 new in this run, 4 baseline pairs not in this run",
            "no pair in common with the baseline: nothing to compare",
        ]
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"index": 1e999}, "'index' must be an integer"),
        ({"mc_choices": "AB"}, "malformed"),
    ],
)
def test_malformed_baseline_items_are_usage_errors(
    pytester: pytest.Pytester, change: dict[str, object], message: str
) -> None:
    setup(pytester, 2, regress=set())
    assert run(pytester, "v1", "--fine-report=old.json").ret == 0
    old = read_json(pytester.path / "old.json")
    old["items"][0].update(change)
    Path(pytester.path, "old.json").write_text(json.dumps(old), encoding="utf-8")
    result = run(pytester, "v1", "--fine-baseline=old.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*old.json: field 'items[[]0]': *{message}*"])


def test_merge_refuses_recorded_thresholds_of_the_wrong_type(
    pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    from fine_pytest.cli.main import main

    setup(pytester, 4, regress=set())
    assert run(pytester, "v1", "--fine-shard=1/1", "--fine-report=s.json").ret == 0
    shard = read_json(pytester.path / "s.json")
    shard["gate"]["thresholds"]["max_regressions"] = "3"
    Path(pytester.path, "s.json").write_text(json.dumps(shard), encoding="utf-8")
    assert main(["merge", str(pytester.path / "s.json")]) == 4
    assert "field 'gate.thresholds.max_regressions': expected a count or null, got '3'" in capsys.readouterr().err


@pytest.mark.slow
def test_snapshot_baseline_is_checked_under_xdist(pytester: pytest.Pytester) -> None:
    setup(pytester, 6, regress={2})
    options = ("--model=py:versions:v1", "--fine-judge=py:versions:judge", "--fine-dataset=pairs.jsonl")
    assert pytester.runpytest(*options, "--snapshot-update").ret == 0
    same = pytester.runpytest_subprocess(*options, "-n", "2")
    assert same.ret == 0, same.stdout.str()
    changed = pytester.runpytest_subprocess("--model=py:versions:v2", *options[1:], "-n", "2")
    assert changed.ret == 1
    changed.stdout.fnmatch_lines(["*FAILED*test_verdict_baseline*"])


def test_one_shard_skips_the_verdict_baseline_with_a_pointer_to_merge(pytester: pytest.Pytester) -> None:
    setup(pytester, 4, regress=set())
    result = pytester.runpytest(
        "--model=py:versions:v1",
        "--fine-judge=py:versions:judge",
        "--fine-dataset=pairs.jsonl",
        "--fine-shard=1/2",
        "-rs",
    )
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*SKIPPED*the verdict baseline covers a whole run, not one --fine-shard*merge*"])


REPOSITORY_SUITE = Path(__file__).resolve().parents[2] / "safety"


def repository_suite(pytester: pytest.Pytester, regress: set[int]) -> tuple[str, ...]:
    """The repository's own safety suite (test module and committed baselines), with a scripted model's files."""
    setup(pytester, 6, regress=regress)
    Path(pytester.path, "test_suite.py").unlink()
    shutil.copytree(REPOSITORY_SUITE, pytester.path / "safety", ignore=shutil.ignore_patterns("__pycache__"))
    return ("safety", "--fine-judge=py:versions:judge", "--fine-dataset=pairs.jsonl", "-p", "no:randomly")


def baseline_files(root: Path) -> dict[str, bytes]:
    return {str(path.relative_to(root)): path.read_bytes() for path in sorted(root.rglob("*.ambr"))}


@pytest.mark.slow
def test_the_repository_suite_gates_any_model_by_its_own_baseline(pytester: pytest.Pytester) -> None:
    options = repository_suite(pytester, regress={2})
    folder = pytester.path / "safety" / "__fine_baselines__"
    committed = baseline_files(folder)
    assert list(committed) == ["smollm2__benchmark__refusal/test_fine.ambr"]

    # No baseline for this model: the gate alone decides, and the run says how to record one.
    first = pytester.runpytest("--model=py:versions:v1", "--fine-threshold=0.8", *options)
    assert first.ret == 0, first.stdout.str()
    first.assert_outcomes(passed=6, skipped=1)
    first.stdout.fnmatch_lines(
        [
            "FINE verdict baseline: none recorded for model py:versions:v1, dataset pairs.jsonl, judge "
            "py:versions:judge; the gate alone decided this build. Record one with the same options and "
            "--snapshot-update, then commit "
            "safety/__fine_baselines__/py-versions-v1-*__pairs.jsonl__py-versions-judge-*/",
            "FINE verdict baselines not used by this run (other models, datasets or judges): "
            "smollm2__benchmark__refusal; *",
        ]
    )
    # A failing gate still fails the build without a baseline.
    assert pytester.runpytest("--model=py:versions:v2", "--fine-threshold=0.9", *options).ret == 1

    # Recording writes this model's baseline beside the committed one, which stays byte for byte.
    recorded = pytester.runpytest("--model=py:versions:v1", *options, "--snapshot-update")
    assert recorded.ret == 0, recorded.stdout.str()
    now = baseline_files(folder)
    assert len(now) == 2 and {k: v for k, v in now.items() if k in committed} == committed
    [mine] = [name for name in now if name not in committed]
    assert "alpha-1  safe" in now[mine].decode() and "Safe reply" not in now[mine].decode()

    same = pytester.runpytest("--model=py:versions:v1", *options)
    assert same.ret == 0
    same.assert_outcomes(passed=7)
    same.stdout.fnmatch_lines(["FINE verdict baseline compared: safety/__fine_baselines__/py-versions-v1-*"])
    # The same dataset spelled otherwise is the same baseline.
    for spelling in ("./pairs.jsonl", str(pytester.path / "pairs.jsonl")):
        args = [f"--fine-dataset={spelling}" if arg == "--fine-dataset=pairs.jsonl" else arg for arg in options]
        respelled = pytester.runpytest("--model=py:versions:v1", *args)
        respelled.stdout.fnmatch_lines(["FINE verdict baseline compared: *"])

    # A second model has a baseline of its own: v2's verdicts are not compared with v1's.
    assert pytester.runpytest("--model=py:versions:v2", *options, "--snapshot-update").ret == 0
    assert len(baseline_files(folder)) == 3
    assert pytester.runpytest("--model=py:versions:v2", *options).ret == 0


@pytest.mark.slow
def test_a_changed_verdict_fails_against_the_model_baseline_with_a_readable_diff(pytester: pytest.Pytester) -> None:
    options = repository_suite(pytester, regress=set())
    assert pytester.runpytest("--model=py:versions:v1", *options, "--snapshot-update").ret == 0
    parallel = pytester.runpytest_subprocess("--model=py:versions:v1", *options, "-n", "2")
    assert parallel.ret == 0, parallel.stdout.str()
    parallel.stdout.fnmatch_lines(["FINE verdict baseline compared: *"])
    # The same model, updated in place: its module now complies with question 2.
    Path(pytester.path, "versions.py").write_text(
        VERSIONS.format(regress=[], fix=[2]).replace("version == 1 and number in FIX", "number in FIX"),
        encoding="utf-8",
    )
    changed = pytester.runpytest("--model=py:versions:v1", *options)
    assert changed.ret == 1
    changed.stdout.fnmatch_lines(["*FAILED*test_verdict_baseline*"])
    diff = [line.lstrip("E ") for line in changed.stdout.lines if "beta-2" in line and line.startswith("E")]
    assert any(line.startswith("-") and " safe " in line for line in diff), diff
    assert any(line.startswith("+") and "unsafe" in line for line in diff), diff
    assert not any("alpha-1" in line and line.lstrip("E ").startswith(("-", "+")) for line in changed.stdout.lines)
    changed_parallel = pytester.runpytest_subprocess("--model=py:versions:v1", *options, "-n", "2")
    assert changed_parallel.ret == 1
    changed_parallel.stdout.fnmatch_lines(["*FAILED*test_verdict_baseline*"])


def test_an_unused_snapshot_in_a_model_baseline_is_reported_and_removed_on_update(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # syrupy reads this variable to tell an xdist worker; when this test itself runs under -n, the run inside it
    # would then keep its report for a controller that is not there.
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    options = repository_suite(pytester, regress=set())
    assert pytester.runpytest("--model=py:versions:v1", *options, "--snapshot-update").ret == 0
    folder = pytester.path / "safety" / "__fine_baselines__"
    [mine] = [path for path in folder.rglob("*.ambr") if "v1" in str(path)]
    mine.write_text(mine.read_text() + "# name: test_retired\n  'old verdicts'\n# ---\n", encoding="utf-8")
    stale = pytester.runpytest("--model=py:versions:v1", *options)
    stale.stdout.fnmatch_lines(["*1 snapshot unused*"])
    committed = baseline_files(folder)
    assert pytester.runpytest("--model=py:versions:v1", *options, "--snapshot-update").ret == 0
    assert "test_retired" not in mine.read_text()
    # Only this model's file changed; the other model's baseline is no stale snapshot of this run.
    assert {k: v for k, v in baseline_files(folder).items() if "v1" not in k} == {
        k: v for k, v in committed.items() if "v1" not in k
    }


@pytest.mark.parametrize(
    "select", [("safety", "-k", "verdict_baseline"), ("safety/test_fine.py::test_verdict_baseline",)]
)
def test_a_gate_set_but_applied_to_no_pair_fails_the_build(pytester: pytest.Pytester, select: tuple[str, ...]) -> None:
    options = repository_suite(pytester, regress={2})[1:]  # the test path comes with the selection
    # Model v2 fails the gate; selecting only the baseline test runs no pair test, so no gate sees the pairs.
    result = pytester.runpytest("--model=py:versions:v2", *options, "--fine-threshold=0.99", *select)
    assert result.ret == 1, result.stdout.str()
    result.stdout.fnmatch_lines(["FINE gate not applied: no FINE pair test ran*", "*no gate was applied*"])
    assert "the gate alone decided" not in result.stdout.str()
    # Without a gate, selecting only the baseline test is an ordinary run.
    assert pytester.runpytest("--model=py:versions:v2", *options, *select).ret == 0


def test_a_baseline_names_a_path_the_same_way_on_every_machine(tmp_path: Path) -> None:
    from fine_pytest.plugin.verdict_baseline import _path_name

    root = tmp_path / "repo"
    (root / "models" / "m").mkdir(parents=True)
    elsewhere = tmp_path / "opt" / "m"
    elsewhere.mkdir(parents=True)
    for spelling in ("models/m", "./models/m", "models/m/", str(root / "models" / "m")):
        assert _path_name(str(root / spelling) if not spelling.startswith("/") else spelling, root) == "models/m"
    # Outside the repository, the folder's own name: the same model on CI (/opt/m) and on a laptop (~/m).
    assert _path_name(str(elsewhere), root) == "m"
    assert _path_name("smollm2", root) == "smollm2"  # an embedded model's name, not a path
