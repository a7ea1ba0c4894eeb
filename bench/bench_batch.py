"""The batch-file loop at size: time and peak memory of export and import at 1k, 10k and 100k pairs.

For each size, in a fresh folder and cache, the three steps a user runs (docs/BACKENDS.md, "Batch files"):

- ``export``: ``pytest --fine-export-requests=requests.jsonl`` (collect, write every prompt the cache lacks);
- ``engine``: a stand-in for ``vllm run-batch`` in this process that answers each request line as the instant model
  ``safe`` would (tests/vllm runs the real ``vllm run-batch`` on a few pairs; on this CPU it answers about 1
  prompt a second, so 300,000 prompts are out of reach). Its time is not the plugin's and is shown apart;
- ``import``: ``pytest --fine-import-responses=responses.jsonl --fine-threshold=0.8 --fine-report=run.json``: check
  every line, store the answers, judge, gate and report. It must store every line and generate nothing;
- ``final``: the same run without the import, from the cache. It must generate nothing, evaluate every pair and
  pass its gate, or the benchmark stops.

With ``--forms FAMILIES`` the consistency forms are asked too, and the loop repeats (export, answer, import) until
the export says there is nothing left: each further round is a shrink round, which the stand-in (answering the
paper's format only) makes every pair need; the default budget of 200 shrink prompts caps them. The figures are
the first round's, and the slowest later round's export and import.

Peak memory is each pytest process's own maximum resident set (``os.wait4``).

    python bench/bench_batch.py --pairs 1000 10000 100000 --out /tmp/fine-batch
    python bench/bench_batch.py --pairs 1000 10000 --forms labels,single,instructions --out /tmp/fine-batch-forms
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_overhead import FINE_SUITE, MODEL, write_project  # noqa: E402
from bench_scale import measured, size  # noqa: E402


def answer(messages: list[dict[str, str]]) -> str:
    """What bench_overhead's ``safe`` model answers: it refuses open questions and picks the SAFE option."""
    text = messages[-1]["content"]
    if "Option: [[A]]" not in text:
        return "I'm sorry, but I can't help with that."
    return "Option: [[A]]" if text.index("SAFE") < text.index("RISKY") else "Option: [[B]]"


def engine(requests: Path, responses: Path) -> int:
    """Answer a batch input file in vLLM run-batch's output format, one line per request."""
    count = 0
    with requests.open(encoding="utf-8") as lines, responses.open("w", encoding="utf-8") as out:
        for line in lines:
            request = json.loads(line)
            body = request["body"]
            message = {"role": "assistant", "content": answer(body["messages"])}
            reply = {
                "id": f"chatcmpl-{count}",
                "object": "chat.completion",
                "model": body["model"],
                "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            }
            response = {"status_code": 200, "request_id": f"batch-{count}", "body": reply}
            entry = {"id": f"batch-{count}", "custom_id": request["custom_id"], "response": response, "error": None}
            out.write(json.dumps(entry) + "\n")
            count += 1
    return count


@dataclass
class Loop:
    """One size's figures: (seconds, peak MiB) of the first export and import, and the slowest later round's."""

    pairs: int
    lines: int = 0
    rounds: int = 0
    export: tuple[float, float] = (0.0, 0.0)
    imported: tuple[float, float] = (0.0, 0.0)
    later_export: tuple[float, float] = (0.0, 0.0)
    later_import: tuple[float, float] = (0.0, 0.0)
    final: tuple[float, float] = (0.0, 0.0)
    requests_mib: float = 0.0
    responses_mib: float = 0.0
    engine_s: float = 0.0
    css: float = 0.0


def slowest(a: tuple[float, float], b: tuple[float, float]) -> tuple[float, float]:
    return max(a[0], b[0]), max(a[1], b[1])


def one_size(root: Path, pairs: int, forms: str | None) -> Loop:
    root.mkdir(parents=True)
    write_project(root, pairs)
    (root / "benchmodel.py").write_text(MODEL)
    (root / "fine" / "test_fine.py").write_text(FINE_SUITE)
    pytest = [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "--rootdir", str(root), "fine"]
    fine = ["--model=py:benchmodel:safe", "--fine-dataset=pairs.jsonl", "--fine-cache-dir=cache"]
    fine += [f"--fine-forms={forms}"] if forms else []
    found = Loop(pairs)
    while True:
        requests, responses = root / f"requests-{found.rounds}.jsonl", root / f"responses-{found.rounds}.jsonl"
        seconds, peak, code = measured([*pytest, *fine, f"--fine-export-requests={requests}"], root)
        if code != 0:
            raise SystemExit(f"export exited {code}")
        exported = (seconds, peak)
        if not requests.exists():
            break  # "nothing to export": every prompt of the run is answered
        started = time.perf_counter()
        lines = engine(requests, responses)
        answered = time.perf_counter() - started
        gate = [f"--fine-import-responses={responses}", "--fine-threshold=0.8", "--fine-report=run.json"]
        seconds, peak, code = measured([*pytest, *fine, *gate], root)
        run = json.loads((root / "run.json").read_text())["run"]
        # With forms, an import before the last shrink round fails its run (the next round's prompts are missing,
        # and the run says to export again): only the last round's import reaches the report's "imported".
        if "imported" in run and (run["generated"] != 0 or run["imported"]["stored"] != lines):
            raise SystemExit(f"stored {run['imported']['stored']} of {lines} lines, generated {run['generated']}")
        if "imported" not in run and not (forms and code == 1):
            raise SystemExit(f"the import run exited {code} without importing")
        if found.rounds == 0:
            found.export, found.imported, found.engine_s = exported, (seconds, peak), answered
            found.requests_mib, found.responses_mib = size(requests), size(responses)
        else:
            found.later_export = slowest(found.later_export, exported)
            found.later_import = slowest(found.later_import, (seconds, peak))
        found.lines += lines
        found.rounds += 1
    # Everything is answered now: the run that gates generates nothing and evaluates every pair.
    seconds, peak, code = measured([*pytest, *fine, "--fine-threshold=0.8", "--fine-report=final.json"], root)
    found.final = (seconds, peak)
    report = json.loads((root / "final.json").read_text())
    overall, gate_result = report["overall"], report["gate"]
    if code != 0 or report["run"]["generated"] != 0 or overall["n"] != pairs or gate_result["passed"] is not True:
        raise SystemExit(f"the final run: exit {code}, n {overall['n']}, {gate_result}")
    found.css = overall["css"]
    return found


def cell(figure: tuple[float, float]) -> str:
    return f"{figure[0]:.1f}, {figure[1]:.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, nargs="+", default=[1000, 10_000, 100_000])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--forms", help="consistency-form families, as --fine-forms takes them")
    args = parser.parse_args()
    results = [one_size(args.out / str(pairs), pairs, args.forms) for pairs in args.pairs]
    print(f"python {sys.version.split()[0]}; seconds and peak MiB per pytest process; forms: {args.forms or 'none'}")
    print(
        "pairs | lines (all rounds) | rounds | export s, MiB | import and gate s, MiB | requests MiB | responses MiB "
        "| stand-in engine s | slowest later export s, MiB | slowest later import s, MiB | final run s, MiB"
    )
    for found in results:
        files = f"{found.requests_mib:.1f} | {found.responses_mib:.1f} | {found.engine_s:.1f}"
        firsts = f"{cell(found.export)} | {cell(found.imported)}"
        laters = f"{cell(found.later_export)} | {cell(found.later_import)} | {cell(found.final)}"
        print(f"{found.pairs} | {found.lines} | {found.rounds} | {firsts} | {files} | {laters}")
    for small, large in zip(results, results[1:], strict=False):
        factor = large.pairs / small.pairs
        ratios = f"export {large.export[0] / small.export[0]:.1f}, import {large.imported[0] / small.imported[0]:.1f}"
        print(f"x{factor:g} pairs: first round's time x {ratios}")
    (args.out / "batch.json").write_text(json.dumps([asdict(found) for found in results], indent=2))


if __name__ == "__main__":
    main()
