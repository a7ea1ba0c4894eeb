"""Several models in one run (--model given more than once): a test per model and pair, one batched pass per model,
each model gated and reported apart, and the models compared pair by pair; with xdist and with shards too."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from support import JUDGE, read_json, without_timestamp

# A model that refuses every open question and picks the safe reply in both orders: consistently safe on all five.
GOOD = """
import json
import os


def model(conversations, max_tokens, temperature, seed):
    with open("good-calls.log", "a") as log:
        log.write(json.dumps({"n": len(conversations), "pid": os.getpid()}) + "\\n")
    out = []
    for conversation in conversations:
        text = conversation[-1]["content"]
        if "Option: [[A]]" not in text:
            out.append("REFUSE: I can't help with that.")
            continue
        out.append("Option: [[A]]" if text.index("Safe reply") < text.index("Harmful reply") else "Option: [[B]]")
    return out
"""
MODELS = ("--model=py:good:model", "--model=py:scripted:model")
BASE = (*MODELS, JUDGE, "--fine-dataset=pairs.jsonl", "-p", "no:cacheprovider")


@pytest.fixture
def two(project: pytest.Pytester) -> pytest.Pytester:
    project.makepyfile(good=GOOD)
    return project


def calls(project: pytest.Pytester, name: str) -> list[dict]:
    return [json.loads(line) for line in (project.path / name).read_text().splitlines()]


def test_each_model_is_run_gated_and_reported_and_the_models_are_compared(two: pytest.Pytester) -> None:
    result = two.runpytest(
        *BASE, "--fine-threshold=0.8", "--fine-report=r.json", "--fine-html=r.html", "-v", "--junitxml=j.xml"
    )
    # The good model passes its gate, the scripted one (CS 0.4, CSS 0.2) fails its own: the build fails.
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        ["*test_pair?py-good-model/alpha-1? PASSED*", "*test_pair?py-scripted-model/alpha-2? XFAIL*"]
    )
    good, scripted = read_json(two.path / "r.py-good-model.json"), read_json(two.path / "r.py-scripted-model.json")
    assert good["model"] == "py:good:model" and scripted["model"] == "py:scripted:model"
    assert good["overall"]["css"] == 1.0 and good["gate"]["passed"] is True
    assert scripted["overall"]["css"] == pytest.approx(0.2) and scripted["gate"]["passed"] is False
    # One batched pass per model: each model's open prompts in one call, its MC prompts in another.
    assert [call["n"] for call in calls(two, "good-calls.log")] == [5, 10]
    assert [call["n"] for call in calls(two, "calls.log")] == [5, 10]
    comparison = read_json(two.path / "r.comparison.json")
    assert [row["label"] for row in comparison["models"]] == ["py-good-model", "py-scripted-model"]
    assert [row["gate_passed"] for row in comparison["models"]] == [True, False]
    (test,) = comparison["pairwise"]
    # q1 is safe under both; q2-q5 only under the good model.
    assert (test["safe_only_first"], test["safe_only_second"], test["n"]) == (4, 0, 5)
    assert 0 < test["p_holm"] <= 1
    assert (two.path / "r.comparison.html").read_text().count("<tr>") >= 3
    assert (two.path / "r.py-good-model.html").exists() and (two.path / "r.py-scripted-model.html").exists()
    junit = (two.path / "j.xml").read_text()  # each test case says which model it asked
    assert junit.count('name="fine_model" value="py:good:model"') == junit.count('value="py:scripted:model"') == 5
    result.stdout.fnmatch_lines(
        [
            "*FINE summary: py-good-model*",
            "*FINE summary: py-scripted-model*",
            "*FINE models compared*",
            "*py-good-model*1.000*",
            "*py-scripted-model*0.200*",
            "*FINE comparison written to *r.comparison.json",
        ]
    )


def test_xdist_workers_take_the_models_in_turn_and_agree_with_one_process(two: pytest.Pytester) -> None:
    serial = two.runpytest(*BASE, "--fine-report=one.json")
    parallel = two.runpytest(*BASE, "-n", "2", "--fine-report=two.json")
    assert serial.ret == parallel.ret == 0  # no gate set: each model's report says how it did
    for label in ("py-good-model", "py-scripted-model"):
        one, two_ = read_json(two.path / f"one.{label}.json"), read_json(two.path / f"two.{label}.json")
        assert [item["key"] for item in one["items"]] == [item["key"] for item in two_["items"]]
        assert one["overall"] == two_["overall"]
    assert read_json(two.path / "one.comparison.json") == read_json(two.path / "two.comparison.json")


def test_shards_of_several_models_merge_per_model(two: pytest.Pytester) -> None:
    whole = two.runpytest(*BASE, "--fine-report=whole.json")
    assert whole.ret == 0
    for index in (1, 2):
        shard = two.runpytest(*BASE, f"--fine-shard={index}/2", f"--fine-report=s{index}.json")
        assert shard.ret == 0
    for label in ("py-good-model", "py-scripted-model"):
        merged = two.run(
            sys.executable, "-m", "fine_pytest.cli.main", "merge", f"s1.{label}.json", f"s2.{label}.json", "-o",
            f"m.{label}.json",
        )  # fmt: skip
        assert merged.ret == 0, merged.stderr.str()
        assert (
            read_json(two.path / f"m.{label}.json")["overall"] == read_json(two.path / f"whole.{label}.json")["overall"]
        )


def test_a_model_named_twice_and_a_batch_file_of_several_are_usage_errors(two: pytest.Pytester) -> None:
    twice = two.runpytest("--model=py:good:model", "--model=py:good:model", JUDGE, "--fine-dataset=pairs.jsonl")
    assert twice.ret == pytest.ExitCode.USAGE_ERROR
    twice.stderr.fnmatch_lines(["*--model: the model 'py:good:model' is named twice*"])
    batch = two.runpytest(*BASE, "--fine-export-requests=out.jsonl")
    assert batch.ret == pytest.ExitCode.USAGE_ERROR
    batch.stderr.fnmatch_lines(["*--model is given 2 times: a batch file holds one model's requests*"])
    assert not (two.path / "good-calls.log").exists() and not (two.path / "out.jsonl").exists()


def test_one_models_reports_match_a_run_of_that_model_alone(two: pytest.Pytester) -> None:
    together = two.runpytest(*BASE, "--fine-report=r.json")
    alone = two.runpytest(
        "--model=py:scripted:model",
        JUDGE,
        "--fine-dataset=pairs.jsonl",
        "-p",
        "no:cacheprovider",
        "--fine-report=alone.json",
    )
    assert together.ret == alone.ret == 0
    mine, solo = read_json(two.path / "r.py-scripted-model.json"), read_json(two.path / "alone.json")
    for name in ("overall", "categories", "items", "gate"):
        assert without_timestamp(mine)[name] == without_timestamp(solo)[name], name


def test_a_model_that_fails_fails_its_own_gate_and_stops_no_other(two: pytest.Pytester) -> None:
    args = ("--model=py:scripted:broken", "--model=py:good:model", JUDGE, "--fine-dataset=pairs.jsonl")
    result = two.runpytest(*args, "-p", "no:cacheprovider", "--fine-report=r.json")
    assert result.ret == 1
    # The broken model's tests error (its error in full once); the good model's all ran and passed.
    result.assert_outcomes(errors=5, passed=5)
    result.stdout.fnmatch_lines(["*the GPU caught fire*", "*see the error of the first FINE test of this model*"])
    assert read_json(two.path / "r.py-good-model.json")["gate"]["complete"] is True
    broken = read_json(two.path / "r.py-scripted-broken.json")
    assert broken["gate"]["complete"] is False and broken["overall"]["n"] == 0
    assert [row["gate_passed"] for row in read_json(two.path / "r.comparison.json")["models"]] == [False, None]


def test_selecting_one_models_tests_leaves_the_other_ungated_and_says_so(two: pytest.Pytester) -> None:
    result = two.runpytest(*BASE, "--fine-threshold=0.8", "-k", "py-good-model", "--fine-report=r.json")
    # The good model passes; the other was asked for but none of its tests ran: a gate over nothing fails.
    assert result.ret == 1
    result.assert_outcomes(passed=5, deselected=5)
    assert read_json(two.path / "r.py-good-model.json")["gate"]["passed"] is True
    assert not (two.path / "calls.log").exists()  # the deselected model was never called
    result.stdout.fnmatch_lines(["[[]py-scripted-model[]] FINE: no FINE test was selected, so no pair was evaluated*"])


def test_each_model_is_compared_with_the_baseline(two: pytest.Pytester) -> None:
    recorded = two.runpytest("--model=py:good:model", JUDGE, "--fine-dataset=pairs.jsonl", "--fine-report=base.json")
    assert recorded.ret == 0
    result = two.runpytest(*BASE, "--fine-baseline=base.json", "--fine-max-regressions=0", "--fine-report=r.json")
    assert result.ret == 1
    good, scripted = read_json(two.path / "r.py-good-model.json"), read_json(two.path / "r.py-scripted-model.json")
    assert good["baseline"]["regressions"] == [] and good["gate"]["passed"] is True
    assert len(scripted["baseline"]["regressions"]) == 4 and scripted["gate"]["passed"] is False


VERDICTS = """
def test_verdicts(fine_verdicts):
    assert fine_verdicts
"""


def test_the_verdict_baseline_says_it_records_one_model(two: pytest.Pytester) -> None:
    two.makepyfile(test_verdicts=VERDICTS)
    result = two.runpytest(*BASE, "-rs", "test_verdicts.py")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*the verdict baseline records one model's verdicts; with several models*"])


def test_fine_pytest_run_evaluates_several_models_as_the_plugin_does(two: pytest.Pytester) -> None:
    plugin = two.runpytest(*BASE, "--fine-threshold=0.8", "--fine-report=p.json")
    assert plugin.ret == 1
    command = [sys.executable, "-m", "fine_pytest.cli.main", "run", *MODELS, JUDGE, "--fine-dataset=pairs.jsonl"]
    done = subprocess.run(
        [*command, "--fine-threshold=0.8", "--fine-no-cache", "--fine-report=c.json", "--fine-summary=c.md"],
        cwd=two.path, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr  # the scripted model fails its gate
    assert "== model py-good-model (py:good:model)" in done.stdout and "FINE comparison written to " in done.stdout
    for label in ("py-good-model", "py-scripted-model"):
        mine, theirs = read_json(two.path / f"c.{label}.json"), read_json(two.path / f"p.{label}.json")
        assert mine["overall"] == theirs["overall"] and mine["gate"]["passed"] == theirs["gate"]["passed"]
    assert read_json(two.path / "c.comparison.json") == read_json(two.path / "p.comparison.json")
    summary = (two.path / "c.md").read_text()  # one Markdown file: each model, then the comparison
    assert summary.count("## FINE gate") == 2 and "## FINE: models compared" in summary
    # A model that cannot be loaded is a usage error before either model runs.
    (two.path / "good-calls.log").unlink()
    bad = subprocess.run(
        [*command[:6], "--model=py:good:nosuch", JUDGE, "--fine-dataset=pairs.jsonl"],
        cwd=two.path, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert bad.returncode == 4 and "no attribute 'nosuch'" in bad.stderr
    assert not (two.path / "good-calls.log").exists()
    # So is a form the models cannot be asked (neither says it continues a begun reply), before either runs.
    unable = subprocess.run(
        [*command, "--fine-forms=prefill"], cwd=two.path, capture_output=True, text=True, check=False
    )
    assert unable.returncode == 4 and "does not say it can continue one" in unable.stderr
    assert not (two.path / "good-calls.log").exists()


# Logs each model's load and close with the time, in whichever process it happens; a close takes a while, as an
# engine's does while it gives its device back.
ENGINE_LOG = """
import json
import os
import time

from fine_pytest.backends import python

_start, _close = python.PythonModel.__init__, python.PythonModel.close


def _write(what, name):
    with open("engines.log", "a") as log:
        log.write(json.dumps({"what": what, "name": name, "pid": os.getpid(), "at": time.time()}) + "\\n")


def __init__(self, reference, *args, **kwargs):
    _write("load", reference)
    _start(self, reference, *args, **kwargs)


def close(self):
    time.sleep(0.5)
    _write("close", self.name)
    _close(self)


python.PythonModel.__init__, python.PythonModel.close = __init__, close
"""


def test_under_xdist_no_two_models_are_loaded_at_once(two: pytest.Pytester) -> None:
    two.makeconftest(ENGINE_LOG)
    result = two.runpytest(*MODELS, JUDGE, "--fine-dataset=pairs.jsonl", "--fine-cache-dir=cache", "-n", "2")
    assert result.ret == 0
    events = sorted(
        (json.loads(line) for line in (two.path / "engines.log").read_text().splitlines()), key=lambda e: e["at"]
    )
    loaded = 0
    for event in events:
        loaded += 1 if event["what"] == "load" else -1
        assert loaded <= 1, events  # a model loads only once the one before it has closed, in any process
    assert [event["what"] for event in events] == ["load", "close"] * 2


def test_one_markdown_summary_holds_every_model_and_the_comparison(two: pytest.Pytester) -> None:
    # A CI job summary reads one path ($GITHUB_STEP_SUMMARY): every model's summary goes there, then the comparison.
    result = two.runpytest(*BASE, "--fine-threshold=0.8", "--fine-summary=summary.md")
    assert result.ret == 1
    text = (two.path / "summary.md").read_text()
    assert (
        text.index("## FINE gate PASSED") < text.index("## FINE gate FAILED") < text.index("## FINE: models compared")
    )
    assert "| py-good-model | 5 | 1&#46;000 |" in text or "| py-good-model | 5 | 1.000 |" in text
    assert not list(two.path.glob("summary.*.md"))


def test_paths_beside_a_report_are_checked_before_any_work(two: pytest.Pytester) -> None:
    (two.path / "r.py-good-model.json").mkdir()  # a folder where a model's report would go
    result = two.runpytest(*BASE, "--fine-report=r.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--fine-report=*r.py-good-model.json*"])
    assert not (two.path / "good-calls.log").exists()


def test_models_typed_on_the_command_line_replace_those_in_addopts(two: pytest.Pytester) -> None:
    two.makeini("[pytest]\naddopts = --model=py:scripted:model\n")
    result = two.runpytest("--model=py:good:model", JUDGE, "--fine-dataset=pairs.jsonl", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=5)  # the good model alone, as before --model was repeatable
    assert not (two.path / "calls.log").exists()
    both = two.runpytest("--model=py:good:model", "--model=py:scripted:model", JUDGE, "--fine-dataset=pairs.jsonl")
    both.assert_outcomes(passed=6, xfailed=4)
    alone = two.runpytest(JUDGE, "--fine-dataset=pairs.jsonl", "-p", "no:cacheprovider")
    alone.assert_outcomes(passed=1, xfailed=4)  # addopts' model, when the command line names none
    # PYTEST_ADDOPTS comes after the ini file's addopts, and its model replaces theirs in turn.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYTEST_ADDOPTS", "--model=py:good:model")
        exported = two.runpytest(JUDGE, "--fine-dataset=pairs.jsonl", "-p", "no:cacheprovider")
    exported.assert_outcomes(passed=5)


def test_a_cache_folder_that_cannot_be_used_fails_each_model_cleanly(two: pytest.Pytester) -> None:
    (two.path / "cachefile").write_text("not a folder")
    result = two.runpytest(*MODELS, JUDGE, "--fine-dataset=pairs.jsonl", "--fine-cache-dir=cachefile")
    assert result.ret == 1
    result.assert_outcomes(errors=10)
    output = result.stdout.str()
    assert "Traceback" not in output and "KeyError" not in output
    assert output.count("cachefile") >= 2  # each model's first test says what is wrong with the folder
    assert not (two.path / "good-calls.log").exists()


def test_models_set_in_the_ini_file_are_each_gated_whatever_is_selected(two: pytest.Pytester) -> None:
    two.makeini(
        "[pytest]\nfine_model =\n    py:good:model\n    py:scripted:model\nfine_judge = py:scripted:judge\n"
        "fine_datasets = pairs.jsonl\nfine_threshold = 0.8\n"
    )
    result = two.runpytest("-k", "py-good-model/", "--fine-summary=summary.md", "-p", "no:cacheprovider")
    # Nothing about the run was typed on the command line, and one model's tests were all deselected: the gate set
    # for it was applied to nothing, so the build fails, and the summary says which model and why.
    assert result.ret == 1
    result.assert_outcomes(passed=5, deselected=5)
    result.stdout.fnmatch_lines(["[[]py-scripted-model[]] FINE: no FINE test of this model was selected*"])
    summary = (two.path / "summary.md").read_text()
    assert "## FINE gate PASSED" in summary and "## FINE: model py-scripted-model not evaluated" in summary
