"""The GitHub Actions recipe in ci/ works: its shard jobs' commands and its merge job's command, run as written
(with the model and the installed packages swapped for the scripted model of these tests)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from support import read_json

pytestmark = pytest.mark.slow

RECIPE = Path(__file__).parents[2] / "ci" / "github-actions.yml"


def step(job: dict[str, Any], name: str) -> str:
    return str(next(s["run"] for s in job["steps"] if s.get("name") == name)).strip()


def shell(command: str, cwd: Path) -> int:
    # The recipe calls `pytest` and `fine-pytest` by name: those of the environment running these tests. GitHub
    # gives each step an empty job summary file to write to.
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    summary = cwd / "step-summary.md"
    summary.write_text("", encoding="utf-8")
    environment = {**os.environ, "PYTHONPATH": str(cwd), "PATH": path, "GITHUB_STEP_SUMMARY": str(summary)}
    return subprocess.run(["bash", "-c", command], cwd=cwd, env=environment, check=False).returncode


def named(job: dict[str, Any], name: str) -> dict[str, Any]:
    return dict(next(s for s in job["steps"] if s.get("name") == name))


def test_the_hosted_job_installs_caches_summarises_and_compares_as_written(
    project: pytest.Pytester, recipe: dict[str, Any]
) -> None:
    import shutil

    job = recipe["jobs"]["fine"]
    assert job["timeout-minutes"] <= 60 and job["strategy"]["fail-fast"] is False
    assert len(job["strategy"]["matrix"]["model"]) >= 2  # one job per model
    # Installed as the README says: from the git URL, pinned.
    assert recipe["env"]["FINE_PYTEST"].startswith("git+https://") and "@" in recipe["env"]["FINE_PYTEST"]
    assert step(job, "Install").startswith('pip install "$FINE_PYTEST"')
    # The cache: a new key each run, restored from earlier runs, saved whatever the gate said.
    restore, save = named(job, "Restore the response cache"), named(job, "Save the response cache")
    assert save["if"] == "always()" and save["with"]["key"] == restore["with"]["key"]
    assert "github.run_id" in save["with"]["key"] and restore["with"]["key"].startswith(restore["with"]["restore-keys"])
    # No release yet: the baseline step says so and the job goes on.
    assert shell(step(job, "Baseline from the last release"), project.path) == 0
    gate = step(job, "FINE gate").replace("${{ matrix.model }}", "py:scripted:model")
    gate = gate.replace("pytest -n 2", "pytest -n 2 --fine-dataset=pairs.jsonl --fine-judge=py:scripted:judge", 1)
    assert shell(gate, project.path) == 1  # the scripted model's CSS 0.200 < 0.8
    summary = (project.path / "step-summary.md").read_text(encoding="utf-8")
    assert summary.startswith("## FINE gate FAILED") and "Against the baseline" not in summary
    assert (project.path / "fine-report.html").exists() and (project.path / "fine-junit.xml").exists()
    # After a release: its report is the baseline, and the summary shows the change.
    (project.path / "baseline").mkdir()
    shutil.copy(project.path / "fine-report.json", project.path / "baseline" / "fine-report.json")
    assert shell(gate, project.path) == 1
    assert read_json(project.path / "fine-report.json")["baseline"]["compared"] == 5
    assert "### Against the baseline" in (project.path / "step-summary.md").read_text(encoding="utf-8")
    assert set(named(job, "Keep the evidence")["with"]["path"].split()) == {
        "fine-report.json",
        "fine-report.html",
        "fine-junit.xml",
    }


@pytest.fixture
def recipe() -> dict[str, Any]:
    return dict(yaml.safe_load(RECIPE.read_text()))


def test_shard_jobs_then_merge_job_gate_the_build(project: pytest.Pytester, recipe: dict[str, Any]) -> None:
    jobs = recipe["jobs"]
    shards = jobs["fine-gpu-shard"]["strategy"]["matrix"]["shard"]
    assert jobs["fine-gpu-gate"]["needs"] == "fine-gpu-shard" and jobs["fine-gpu-gate"]["if"] == "always()"
    command = step(jobs["fine-gpu-shard"], "FINE shard")
    command = command.replace("/models/my-model", "py:scripted:model --fine-judge=py:scripted:judge")
    command = command.replace("pytest ", "pytest --fine-dataset=pairs.jsonl -p no:randomly ", 1)
    for shard in shards:
        # The scripted model's CSS is 0.2: below the recipe's 0.8, so every shard job exits 1, which it tolerates.
        assert shell(command.replace("${{ matrix.shard }}", str(shard)), project.path) == 0
    gate = step(jobs["fine-gpu-gate"], "FINE gate over all shards")
    assert re.search(r"fine-pytest merge fine-shard-\*\.json", gate)
    assert shell(gate, project.path) == 1  # the merged gate fails: CSS 0.200 < 0.800
    merged = read_json(project.path / "fine-report.json")
    assert merged["overall"]["n"] == 5 and merged["gate"]["passed"] is False
    (project.path / f"fine-shard-{shards[-1]}.json").unlink()
    assert shell(gate, project.path) == 4  # a lost shard report is a usage error, never a pass


BATCH_RECIPE = Path(__file__).parents[2] / "ci" / "batch-job.yml"


def test_the_batch_recipe_exports_then_gates_on_imported_answers(project: pytest.Pytester) -> None:
    """ci/batch-job.yml's export and gate steps as written, with the GPU job's `vllm run-batch` played by the stub
    engine of these tests (tests/vllm/test_batch.py runs the real one)."""
    from support import engine

    jobs = yaml.safe_load(BATCH_RECIPE.read_text())["jobs"]
    assert jobs["answer"]["needs"] == "export" and jobs["gate"]["needs"] == "answer"
    # The imported answers are kept: the gate job saves the cache, always, under a key of its own run; the export
    # job only restores (two jobs saving one key would keep only the first's).
    save = named(jobs["gate"], "Save the response cache")
    assert save["if"] == "always()" and "github.run_id" in save["with"]["key"]
    assert not any(
        "cache/save" in str(s.get("uses")) or s.get("uses") == "actions/cache@v4" for s in jobs["export"]["steps"]
    )
    assert all(job.get("timeout-minutes") for job in jobs.values())
    assert "vllm.entrypoints.openai.run_batch -i requests.jsonl -o responses.jsonl" in step(
        jobs["answer"], "vllm run-batch"
    )

    def as_here(command: str) -> str:
        command = command.replace("$MODEL", "py:scripted:model --fine-judge=py:scripted:judge")
        return command.replace("pytest ", "pytest --fine-dataset=pairs.jsonl -p no:randomly ", 1)

    assert shell(as_here(step(jobs["export"], "Export what the cache lacks")), project.path) == 0
    assert engine(project.path, "scripted")(project.path / "requests.jsonl", project.path / "responses.jsonl") == 15
    (project.path / "calls.log").unlink()
    gate = as_here(step(jobs["gate"], "FINE gate"))
    assert shell(gate, project.path) == 1  # the scripted model's CSS 0.200 < the recipe's 0.8
    report = read_json(project.path / "fine-report.json")
    assert report["run"]["generated"] == 0 and report["run"]["imported"]["lines"] == 15
    assert not (project.path / "calls.log").exists()  # the model under test was never asked
    # The next push: the cache answers everything, the export writes nothing, and the gate runs without a file.
    (project.path / "requests.jsonl").unlink()
    (project.path / "responses.jsonl").unlink()
    assert shell(as_here(step(jobs["export"], "Export what the cache lacks")), project.path) == 0
    assert not (project.path / "requests.jsonl").exists()
    assert shell(gate, project.path) == 1 and read_json(project.path / "fine-report.json")["run"]["cached"] == 15
