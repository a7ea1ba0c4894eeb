"""What two models in one run cost against two runs, on real vLLM engines: `pytest --model=A --model=B` against
`pytest --model=A` then `pytest --model=B`, each side from a fresh response cache of its own.

Model A is the embedded SmolLM2; model B is a copy of its converted folder with one file added, so it is another
model to the cache (its weights' digest differs) and to vLLM (another folder), and generates every answer again. The
first N pairs of the bundled benchmark, the default judge, one process (no xdist). The one-run side's per-model
reports are checked against the two runs' (the same scores), so the figures compare equal work.

    python bench/bench_models.py --pairs 10 --json bench-models.json
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from fine_pytest.backends.vllm import model_folder
from fine_pytest.core.dataset import bundled_dataset

SUITE = "def test_pair(fine_pair):\n    fine_pair.check()\n"


def pytest_run(folder: Path, cache: Path, *args: str) -> float:
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "--fine-dataset=pairs.jsonl"]
    start = time.perf_counter()
    done = subprocess.run(
        [*command, f"--fine-cache-dir={cache}", *args], cwd=folder, capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - start
    if done.returncode not in (0, 1):
        raise SystemExit(f"pytest failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=10)
    parser.add_argument("--json", help="write the figures here too")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        rows = [json.loads(line) for line in bundled_dataset().read_text().splitlines() if line.strip()]
        harmful = [row for row in rows if "twin_of" not in row][: args.pairs]
        (folder / "pairs.jsonl").write_text("".join(json.dumps(row) + "\n" for row in harmful))
        (folder / "test_suite.py").write_text(SUITE)
        copy = folder / "smollm2-copy"
        shutil.copytree(model_folder("smollm2", "--model"), copy)
        (copy / "COPY.txt").write_text("another model to the cache: the same weights, another digest\n")
        models = ("--model=smollm2", f"--model={copy}")
        one = pytest_run(folder, folder / "cache-one", *models, "--fine-report=one.json")
        two = sum(
            pytest_run(folder, folder / "cache-two", model, f"--fine-report=two-{index}.json")
            for index, model in enumerate(models)
        )
        for index, label in enumerate(("smollm2", "smollm2-copy")):
            together = json.loads((folder / f"one.{label}.json").read_text())
            alone = json.loads((folder / f"two-{index}.json").read_text())
            if together["overall"] != alone["overall"]:
                raise SystemExit(f"{label}: one run and its own run scored differently")
            if together["run"]["generated"] != alone["run"]["generated"]:
                raise SystemExit(f"{label}: one run and its own run generated different numbers of answers")
        figures: dict[str, Any] = {
            "pairs": len(harmful),
            "prompts_per_model": together["run"]["prompts"],
            "one_run_seconds": round(one, 1),
            "two_runs_seconds": round(two, 1),
            "ratio": round(one / two, 3),
        }
    print(json.dumps(figures, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
