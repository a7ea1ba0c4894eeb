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
    # The recipe calls `pytest` and `fine-pytest` by name: those of the environment running these tests.
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    environment = {**os.environ, "PYTHONPATH": str(cwd), "PATH": path}
    return subprocess.run(["bash", "-c", command], cwd=cwd, env=environment, check=False).returncode


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
