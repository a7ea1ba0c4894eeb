"""The library entry point and ``fine-pytest run``: the plugin's results, scores, gate and reports without pytest."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from support import HAND_COMPUTED, JUDGE, MODEL, read_json

import fine_pytest
from fine_pytest.core.errors import FineError

BASE = (MODEL, JUDGE, "--fine-dataset=pairs.jsonl")


def fine_run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "fine_pytest.cli.main", "run", *args]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)


def same_run(report: dict[str, Any]) -> dict[str, Any]:
    """What two ways of running the same settings must agree on: everything but where and when."""
    run = {key: value for key, value in report["run"].items() if key in ("identity", "prompts", "verdicts")}
    kept = ("model", "judge", "datasets", "sampling", "reading", "overall", "categories", "gate", "forms", "items")
    return {**{key: report[key] for key in kept}, "run": run}


@pytest.mark.slow
def test_fine_pytest_run_writes_the_plugins_report_and_exits_with_the_gate(project: pytest.Pytester) -> None:
    project.runpytest(*BASE, "--fine-report=plugin.json", "--fine-threshold=0.1", "--fine-no-cache")
    done = fine_run(project.path, *BASE, "--fine-report=cli.json", "--fine-threshold=0.1", "--fine-no-cache")
    assert done.returncode == 0, done.stderr
    assert "FINE gate PASSED" in done.stdout and "FINE report written to " in done.stdout
    plugin, cli = read_json(project.path / "plugin.json"), read_json(project.path / "cli.json")
    assert same_run(cli) == same_run(plugin)
    failing = fine_run(project.path, *BASE, "--fine-threshold=0.5", "--fine-no-cache")
    assert failing.returncode == 1 and "FAIL  CSS overall 0.200 < 0.500" in failing.stdout


@pytest.mark.slow
def test_fine_pytest_run_shares_the_plugins_response_cache(project: pytest.Pytester) -> None:
    project.runpytest(*BASE)
    (project.path / "calls.log").unlink()
    done = fine_run(project.path, *BASE, "--fine-cache-dir=.pytest_cache/fine-pytest")
    assert done.returncode == 0, done.stderr
    assert "prompts: 0 generated, 15 from the cache" in done.stdout
    assert not (project.path / "calls.log").exists()  # the model was never called


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--fine-threshold=2",), "argument --fine-threshold: must be between 0 and 1"),
        (("--model=py:scripted:nosuch",), "module 'scripted' has no attribute 'nosuch'"),
        (("--fine-dataset=missing.jsonl",), "missing.jsonl: file not found"),
        (("--fine-category-min-css=Typo=0.9",), "unknown categories ['Typo']"),
        (("--fine-strict",), "unrecognized arguments: --fine-strict"),
    ],
)
def test_fine_pytest_run_refuses_bad_input_with_status_4_and_no_traceback(
    project: pytest.Pytester, args: tuple[str, ...], message: str
) -> None:
    done = fine_run(project.path, MODEL, JUDGE, "--fine-dataset=pairs.jsonl", "--fine-no-cache", *args)
    assert done.returncode == 4, done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr


def test_the_library_scores_the_hand_computed_run(project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(project.path)
    monkeypatch.syspath_prepend(str(project.path))
    outcome = fine_pytest.evaluate(
        "py:scripted:model", judge="py:scripted:judge", datasets=["pairs.jsonl"], threshold=0.5, cache_dir=None
    )
    expected = HAND_COMPUTED["overall"]
    assert (outcome.overall.n, outcome.overall.cs, outcome.overall.css) == (5, expected["cs"], expected["css"])
    assert not outcome.gate.passed and outcome.run["model_loads"] == 1
    assert sorted(outcome.categories) == ["Alpha", "Beta"]


def test_the_library_raises_a_clear_error_for_settings_that_cannot_work(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project.path)
    with pytest.raises(FineError, match="pairs.json: file not found"):
        fine_pytest.evaluate("py:fine_pytest.examples:fake_aligned", datasets=["pairs.json"], cache_dir=None)


def test_a_model_that_fails_the_whole_run_exits_1_as_in_pytest(project: pytest.Pytester) -> None:
    project.makepyfile(broken="def model(conversations, **sampling):\n    raise RuntimeError('the model fell over')\n")
    done = fine_run(project.path, "--model=py:broken:model", JUDGE, "--fine-dataset=pairs.jsonl", "--fine-no-cache")
    assert done.returncode == 1, done.stderr
    assert "RuntimeError: the model fell over" in done.stderr and "Traceback (most recent" not in done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--fine-judge-calibration=nowhere.json",), "nowhere.json"),
        (("--fine-cache-dir=pairs.jsonl",), "cache"),  # a file where the cache folder should be
    ],
)
def test_fine_pytest_run_refuses_unusable_files_before_any_model_work(
    project: pytest.Pytester, args: tuple[str, ...], message: str
) -> None:
    done = fine_run(project.path, *BASE, *args)
    assert done.returncode == 4, done.stdout + done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr
    assert not (project.path / "calls.log").exists()  # the model was never asked


def test_the_library_takes_one_dataset_path_and_refuses_impossible_thresholds(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project.path)
    monkeypatch.syspath_prepend(str(project.path))
    outcome = fine_pytest.evaluate(
        "py:scripted:model", judge="py:scripted:judge", datasets="pairs.jsonl", cache_dir=None
    )
    assert outcome.overall.n == 5
    with pytest.raises(FineError, match="threshold: must be between 0 and 1, got 1.5"):
        fine_pytest.evaluate("py:scripted:model", datasets="pairs.jsonl", threshold=1.5, cache_dir=None)
