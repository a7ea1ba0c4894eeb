"""The response cache and one-generation-per-run, on the embedded model through real `pytest` runs.

(1) cold vs warm: the same `pytest` command twice against an empty cache folder; the warm run should generate
    nothing, never start the engine, and be far faster (goal: >= 50x);
(2) engine starts per run with `-n 0` and `-n 2` (goal: 1 each), with --fine-no-cache so both generate;
(3) the cost of chunked generation (each chunk is cached as it returns): the same prompts through one engine
    in one chunk and in chunks of --chunk prompts.

python bench/bench_cache.py --pairs 30 --max-tokens 64 --mc-max-tokens 16 --chunk 18
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from fine_pytest.backends.base import ModelContext
from fine_pytest.backends.vllm import VllmModel
from fine_pytest.core.dataset import Pair, bundled_dataset, load_datasets
from fine_pytest.core.sampling import GenerationSettings, Sampling
from fine_pytest.judges.refusal import RefusalJudge
from fine_pytest.pipeline.run import run_loaded


def pairs_of(count: int) -> list[Pair]:
    base = load_datasets([bundled_dataset()])
    return [
        dataclasses.replace(p, id=f"{p.id}-{n}", index=n * len(base) + i)
        for n in range((count + len(base) - 1) // len(base))
        for i, p in enumerate(base)
    ][:count]


def write_project(root: Path, pairs: list[Pair]) -> None:
    rows = [
        {"id": p.id, "category": p.category, "question": p.question, "positive": p.positive, "negative": p.negative}
        for p in pairs
    ]
    (root / "pairs.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    (root / "test_suite.py").write_text("def test_pair(fine_pair):\n    fine_pair.check()\n")


def run_pytest(root: Path, args: argparse.Namespace, *extra: str) -> tuple[float, dict[str, Any]]:
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "--fine-dataset=pairs.jsonl",
        "--fine-report=report.json",
        f"--fine-max-tokens={args.max_tokens}",
        f"--fine-mc-max-tokens={args.mc_max_tokens}",
        *extra,
    ]
    (root / "report.json").unlink(missing_ok=True)
    start = time.perf_counter()
    completed = subprocess.run(command, cwd=root, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if completed.returncode not in (0, 1):  # 1: the tiny model fails the gate; anything else is a broken run
        raise SystemExit(f"pytest {' '.join(extra)} exited {completed.returncode}:\n{completed.stdout[-3000:]}")
    report = json.loads((root / "report.json").read_text())
    if report["gate"]["evaluated"] != report["gate"]["expected"]:
        raise SystemExit(f"pytest {' '.join(extra)} left pairs without a verdict: {report['gate']['problems']}")
    return wall, report["run"]


def chunk_cost(pairs: list[Pair], args: argparse.Namespace) -> None:
    settings = GenerationSettings(open=Sampling(args.max_tokens), mc=Sampling(args.mc_max_tokens))
    model = VllmModel("smollm2", context=ModelContext())
    try:
        run_loaded(pairs[:1], model, RefusalJudge(), settings)  # one-off warm-up, carried by neither way
        timings = {}
        for chunk in (3 * len(pairs), args.chunk):
            model._llm.reset_prefix_cache()  # each way starts from an empty prefix cache
            start = time.perf_counter()
            evaluated = run_loaded(pairs, model, RefusalJudge(), settings, chunk_size=chunk)
            timings[chunk] = time.perf_counter() - start
            assert len(evaluated.results) == len(pairs), evaluated.failures
    finally:
        model.close()
    whole, chunked = timings[3 * len(pairs)], timings[args.chunk]
    print(
        f"(3) one chunk of {3 * len(pairs)} prompts {whole:.1f}s; chunks of {args.chunk}: {chunked:.1f}s; "
        f"chunked / whole = {chunked / whole:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=30)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--mc-max-tokens", type=int, default=16)
    parser.add_argument("--chunk", type=int, default=18, help="chunk size for (3); 0 skips (3)")
    parser.add_argument("--skip-workers", action="store_true", help="skip (2)")
    parser.add_argument("--warm-rounds", type=int, default=5, help="warm runs in (1); the median is used")
    args = parser.parse_args()
    pairs = pairs_of(args.pairs)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        write_project(root, pairs)
        # (2) first: it also brings the model files into the OS page cache, so the cold run in (1) is not
        # charged for a first read from disk that a user's second run would not pay either.
        if not args.skip_workers:
            for workers in ("0", "2"):
                wall, run = run_pytest(root, args, "--fine-no-cache", "-n", workers)
                print(
                    f"(2) -n {workers}: {wall:.1f}s, engine starts {run['model_loads']}, generated {run['generated']}"
                )
        cold, cold_run = run_pytest(root, args, "--fine-cache-dir=cache")
        # A warm run is pytest's own start-up plus a few milliseconds of cache reads, so it is noisy: median of
        # several, with every run's figure shown.
        warms = [run_pytest(root, args, "--fine-cache-dir=cache") for _ in range(args.warm_rounds)]
        warm = statistics.median(seconds for seconds, _ in warms)
        warm_run = warms[-1][1]
        assert all(run["generated"] == 0 and run["model_loads"] == 0 for _, run in warms), warms
        print(
            f"(1) cold {cold:.1f}s (generated {cold_run['generated']}, model loads {cold_run['model_loads']}); "
            f"warm median {warm:.2f}s of {[round(seconds, 2) for seconds, _ in warms]} (generated "
            f"{warm_run['generated']}, from the cache {warm_run['cached']}, model loads {warm_run['model_loads']}); "
            f"cold / warm = {cold / warm:.0f}x"
        )
    if args.chunk:
        chunk_cost(pairs, args)


if __name__ == "__main__":
    main()
