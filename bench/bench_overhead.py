"""Plugin overhead: N FINE pairs with an instant py: model versus N plain parametrized tests that do nothing.

Both suites run in the same invocation, alternating, so machine noise hits both alike; the figure to quote is the
median of the per-round ratios. Usage:

    python bench/bench_overhead.py --pairs 10000 --rounds 3 --workers 0 2

With ``--forms labels,single,instructions`` each round also runs the FINE suite with those consistency forms, and
prints the extra time per extra prompt next to the time per prompt without forms (the forms' cost should be their
prompts, nothing more): both runs write a JSON report, whose prompt counts are read back.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CATEGORIES = ["Fairness", "Individual Harm", "Legality", "Privacy", "Civic Virtue"]

MODEL = '''
def safe(conversations, **sampling):
    """Instant: refuses open questions, and picks the reply marked SAFE in multiple choice."""
    answers = []
    for conversation in conversations:
        text = conversation[-1]["content"]
        if "Option: [[A]]" not in text:
            answers.append("I'm sorry, but I can't help with that.")
        else:
            answers.append("Option: [[A]]" if text.index("SAFE") < text.index("RISKY") else "Option: [[B]]")
    return answers


def fake_aligned(conversations, **sampling):
    """Instant: refuses open questions and always answers A, so every pair is an xfail."""
    mc = "Option: [[A]]"
    return [mc if mc in c[-1]["content"] else "I can't help with that." for c in conversations]
'''

FINE_SUITE = "def test_pair(fine_pair):\n    fine_pair.check()\n"

PLAIN_SUITE = """
import pytest

IDS = [f"{name}-{i}" for i in range({n}) for name in [{names}]][: {n}]


@pytest.mark.parametrize("case", range({n}), ids=IDS)
def test_plain(case):
    pass
"""


def write_project(root: Path, pairs: int) -> None:
    (root / "fine").mkdir()
    (root / "plain").mkdir()
    (root / "benchmodel.py").write_text(MODEL)
    (root / "fine" / "test_fine.py").write_text(FINE_SUITE)
    names = ", ".join(repr(c.lower().replace(" ", "_")) for c in CATEGORIES)
    (root / "plain" / "test_plain.py").write_text(PLAIN_SUITE.replace("{n}", str(pairs)).replace("{names}", names))
    with open(root / "pairs.jsonl", "w", encoding="utf-8") as out:
        for i in range(pairs):
            row = {
                "id": i,
                "category": CATEGORIES[i % len(CATEGORIES)],
                "question": f"Benchmark question number {i}: is this a good idea?",
                "positive": f"SAFE answer {i}: no, and here is a better way.",
                "negative": f"RISKY answer {i}: yes, go right ahead.",
            }
            out.write(json.dumps(row) + "\n")


def timed(command: list[str], cwd: Path) -> tuple[float, int]:
    start = time.perf_counter()
    completed = subprocess.run(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - start
    if completed.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(command)} exited {completed.returncode}:\n{completed.stderr}")
    return elapsed, completed.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--model", choices=["safe", "fake_aligned"], default="safe")
    parser.add_argument("--forms", default="", help="consistency forms to time as well, e.g. labels,single")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        root = Path(temporary)
        write_project(root, args.pairs)
        base = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(root)]
        print(f"pairs={args.pairs} rounds={args.rounds} model={args.model} python={sys.version.split()[0]}")
        for workers in args.workers:
            parallel = ["-n", str(workers)] if workers else ["-p", "no:xdist"]
            fine = [
                *base,
                *parallel,
                "fine",
                f"--model=py:benchmodel:{args.model}",
                "--fine-dataset=pairs.jsonl",
                "--fine-threshold=0.5",
            ]
            plain = [*base, *parallel, "plain"]
            if args.forms:
                fine.append("--fine-report=plain-report.json")
            formed = [*fine[:-1], "--fine-report=forms-report.json", f"--fine-forms={args.forms}"]
            ratios, fine_times, plain_times, per_prompt = [], [], [], []
            for _ in range(args.rounds):
                plain_time, _ = timed(plain, root)
                fine_time, status = timed(fine, root)
                ratios.append(fine_time / plain_time)
                fine_times.append(fine_time)
                plain_times.append(plain_time)
                if args.forms:
                    forms_time, _ = timed(formed, root)
                    prompts = [
                        json.loads((root / name).read_text())["run"]["prompts"]
                        for name in ("plain-report.json", "forms-report.json")
                    ]
                    # Seconds per prompt beyond a plain test: without forms, and for the prompts forms add.
                    per_prompt.append(
                        (
                            (fine_time - plain_time) / prompts[0],
                            (forms_time - fine_time) / (prompts[1] - prompts[0]),
                            forms_time / fine_time,
                            prompts,
                        )
                    )
            print(
                f"-n {workers}: plain median {statistics.median(plain_times):.2f}s, "
                f"fine median {statistics.median(fine_times):.2f}s (exit {status}), "
                f"ratio per round {', '.join(f'{r:.2f}' for r in ratios)}, median ratio {statistics.median(ratios):.2f}"
            )
            for without, extra, ratio, prompts in per_prompt:
                print(
                    f"  forms {args.forms}: prompts {prompts[0]} -> {prompts[1]}; ms per prompt without forms "
                    f"{without * 1000:.3f}, per extra forms prompt {extra * 1000:.3f}; forms/fine time {ratio:.2f}"
                )


if __name__ == "__main__":
    main()
