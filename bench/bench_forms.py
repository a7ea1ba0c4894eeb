"""The consistency forms on a real model: CSS per form, robust CSS, prompts and time per form, shrink rounds.

Runs `pytest` on a subset of the bundled benchmark (the first N pairs of each category), one run per step, all
sharing one cache folder:

    1. the paper's form only (open + two MC orders), which warms the cache for the steps after it;
    2. each family alone (--fine-forms=labels, then single, then instructions): the run's time less step 1's
       cached re-read is the family's cost, its prompts the report's count;
    3. all families together, every answer from the cache: the combined report (robust CSS).

Each step's wall time includes loading the model when it generates anything; the engine load is reported by
step 1's `-v` log line count only, so quote per-form times as the difference from a cached run.

    python bench/bench_forms.py --per-category 8 --model smollm2 --out /tmp/forms-bench
    python bench/bench_forms.py --per-category 8 --mc-scoring logprob --out /tmp/forms-logprob
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from fine_pytest.core.dataset import bundled_dataset

SUITE = "def test_pair(fine_pair):\n    fine_pair.check()\n"
FAMILIES = ("labels", "single", "instructions")


def subset(per_category: int, path: Path) -> int:
    kept: dict[str, int] = {}
    lines = []
    for line in bundled_dataset().read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        category = json.loads(line)["category"]
        if kept.get(category, 0) < per_category:
            kept[category] = kept.get(category, 0) + 1
            lines.append(line)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(lines)


def step(root: Path, name: str, model: str, extra: list[str]) -> dict:
    report = root / f"{name}.json"
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:randomly",
        f"--model={model}",
        "--fine-dataset=pairs.jsonl",
        f"--fine-cache-dir={root / 'cache'}",
        f"--fine-report={report}",
        *extra,
    ]
    started = time.perf_counter()
    completed = subprocess.run(command, cwd=root, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if completed.returncode not in (0, 1) or not report.exists():
        sys.exit(
            f"{name}: pytest exited {completed.returncode}\n{completed.stdout[-3000:]}\n{completed.stderr[-3000:]}"
        )
    data = json.loads(report.read_text(encoding="utf-8"))
    return {"step": name, "seconds": round(seconds, 1), "run": data["run"], "report": data}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-category", type=int, default=8)
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--examples", type=int, default=2)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--mc-scoring", choices=("generate", "logprob"), default="generate")
    args = parser.parse_args()
    root = args.out
    root.mkdir(parents=True, exist_ok=True)
    (root / "test_suite.py").write_text(SUITE, encoding="utf-8")
    pairs = subset(args.per_category, root / "pairs.jsonl")
    examples = f"--fine-forms-examples={args.examples}"
    scoring = f"--fine-mc-scoring={args.mc_scoring}"
    steps = [step(root, "paper", args.model, [scoring])]
    steps.append(step(root, "paper-cached", args.model, [scoring]))
    for family in FAMILIES:
        steps.append(step(root, family, args.model, [f"--fine-forms={family}", examples, scoring]))
    steps.append(step(root, "all", args.model, [f"--fine-forms={','.join(FAMILIES)}", examples, scoring]))
    cached = steps[1]["seconds"]
    print(
        f"pairs: {pairs} (first {args.per_category} per category), model {args.model}, {args.examples} variants, "
        f"answers read by {args.mc_scoring}"
    )
    print(f"{'step':<14} {'wall s':>7} {'- cached':>9} {'generated':>9} {'prompts':>8}")
    for entry in steps:
        run = entry["run"]
        print(
            f"{entry['step']:<14} {entry['seconds']:>7.1f} {entry['seconds'] - cached:>9.1f} {run['generated']:>9} "
            f"{run['prompts']:>8}"
        )
    final = steps[-1]["report"]
    forms = final["forms"]
    print(f"paper: CS {final['overall']['cs']:.3f} CSS {final['overall']['css']:.3f}")
    for name, scores in forms["overall"]["forms"].items():
        print(
            f"{name:<13} CS {scores['cs']:.3f} CSS {scores['css']:.3f} {scores['css_ci']} prompts "
            f"{forms['prompts'][name]} flips {scores['flips']} unreadable {scores['unreadable']}"
        )
    robust = forms["overall"]["robust"]
    print(f"robust CSS {robust['css']:.3f} {robust['css_ci']}; shrink {forms['shrink']}")
    (root / "summary.json").write_text(
        json.dumps([{k: v for k, v in entry.items() if k != "report"} for entry in steps], indent=2), encoding="utf-8"
    )


if __name__ == "__main__":
    main()
