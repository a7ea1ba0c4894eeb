"""Size: time and peak memory of a FINE run at 1k, 10k and 100k pairs with an instant py: model, and of its parts.

For each size, in a fresh folder and cache:

- ``collect``: ``pytest --collect-only`` (loading the dataset, parametrizing);
- ``run``: the whole run (every prompt through the cache, judging, gate) writing the JSON and HTML reports;
- ``shards``: the same pairs as 8 ``--fine-shard`` runs, the slowest shard and the largest peak;
- ``merge``: ``fine-pytest merge`` of the 8 shard reports, writing the JSON and HTML reports.

Peak memory is each process's own maximum resident set (``os.wait4``), not the machine's. The model fails every
pair (it always answers A), so every pair is in the HTML report's failing-pairs table before its bound applies.

    python bench/bench_scale.py --pairs 1000 10000 100000 --out /tmp/fine-scale
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_overhead import FINE_SUITE, MODEL, write_project  # noqa: E402

SHARDS = 8


def measured(command: list[str], cwd: Path) -> tuple[float, float, int]:
    """Wall seconds, peak resident MiB of the process, exit status."""
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):
        error = process.stderr.read().decode(errors="replace") if process.stderr else ""
        raise SystemExit(f"{' '.join(command)} exited {code}:\n{error[-3000:]}")
    return seconds, usage.ru_maxrss / 1024, code


def size(path: Path) -> float:
    return path.stat().st_size / 2**20


def one_size(root: Path, pairs: int) -> dict[str, object]:
    root.mkdir(parents=True)
    write_project(root, pairs)
    (root / "benchmodel.py").write_text(MODEL)
    (root / "fine" / "test_fine.py").write_text(FINE_SUITE)
    pytest = [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "--rootdir", str(root), "fine"]
    fine = ["--model=py:benchmodel:fake_aligned", "--fine-dataset=pairs.jsonl"]
    found: dict[str, object] = {"pairs": pairs}
    found["collect"] = measured([*pytest, "--collect-only", *fine], root)[:2]
    run = measured(
        [*pytest, *fine, "--fine-cache-dir=cache-run", "--fine-report=run.json", "--fine-html=run.html"], root
    )
    found["run"] = run[:2]
    found["json_mib"], found["html_mib"] = size(root / "run.json"), size(root / "run.html")
    shards = [
        measured(
            [*pytest, *fine, "--fine-cache-dir=cache-shards", f"--fine-shard={k}/{SHARDS}", f"--fine-report=s{k}.json"],
            root,
        )
        for k in range(1, SHARDS + 1)
    ]
    found["shards"] = (max(s[0] for s in shards), max(s[1] for s in shards))
    merge = [sys.executable, "-m", "fine_pytest.cli", "merge", *(f"s{k}.json" for k in range(1, SHARDS + 1))]
    found["merge"] = measured([*merge, "-o", "merged.json", "--fine-html=merged.html"], root)[:2]
    merged = json.loads((root / "merged.json").read_text())
    assert merged["overall"]["n"] == pairs, merged["overall"]
    found["merged_html_mib"] = size(root / "merged.html")
    return found


KINDS = ("collect", "run", "shards", "merge")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, nargs="+", default=[1000, 10_000, 100_000])
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    results = [one_size(args.out / str(pairs), pairs) for pairs in args.pairs]
    print(f"python {sys.version.split()[0]}; seconds and peak MiB per process; {SHARDS} shards")
    print("pairs | " + " | ".join(f"{kind} s, MiB" for kind in KINDS) + " | JSON MiB | HTML MiB | merged HTML MiB")
    for found in results:
        cells = [f"{found[kind][0]:.1f}, {found[kind][1]:.0f}" for kind in KINDS]  # type: ignore[index]
        sizes = [f"{found[key]:.2f}" for key in ("json_mib", "html_mib", "merged_html_mib")]
        print(f"{found['pairs']} | " + " | ".join(cells + sizes))
    for small, large in zip(results, results[1:], strict=False):
        factor = large["pairs"] / small["pairs"]  # type: ignore[operator]
        ratios = {kind: large[kind][0] / small[kind][0] for kind in KINDS}  # type: ignore[index]
        print(f"x{factor:g} pairs: time x " + ", ".join(f"{kind} {ratio:.1f}" for kind, ratio in ratios.items()))
    (args.out / "scale.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
