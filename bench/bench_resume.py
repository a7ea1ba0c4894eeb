"""What caching each answer as it finishes costs in throughput, on the embedded model with real vLLM (CPU).

One engine, one process, the same prompts for each way, greedy decoding, fixed token budgets, an empty prefix cache
at the start of each way, and one throwaway request before the first:

    chunks   the previous back end: ``LLM.chat`` over chunks of --chunk prompts, each chunk cached when it ended;
    one      ``LLM.chat`` over every prompt at once (the engine's best case, nothing cached until the end);
    stream   fine-pytest now: its pipeline over the vllm back end, which steps the engine itself and writes each
             answer to an SQLite cache on disk as it finishes (chunks of --chunk prompts, judged by refusal).

    python bench/bench_resume.py --pairs 220 --max-tokens 64 --mc-max-tokens 16

The run prints the seconds of each way and its ratio to ``chunks``.

For the tcmalloc and iomp preload that vLLM's CPU worker asks for, ``--compare-preload LIB:LIB`` runs the ways in
two child processes one after the other, first without and then with ``LD_PRELOAD`` set to those libraries (it
must be set before a process starts), and prints the ratio of their times:

    python bench/bench_resume.py --pairs 100 --ways stream \
        --compare-preload /usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4:.venv/lib/libiomp5.so
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_cache import pairs_of

from fine_pytest.backends.base import ModelContext
from fine_pytest.backends.vllm import VllmModel, sampling_params
from fine_pytest.core.prompts import mc_prompt, open_prompt
from fine_pytest.core.sampling import GenerationSettings, Sampling
from fine_pytest.judges.refusal import RefusalJudge
from fine_pytest.pipeline.cache import Cache
from fine_pytest.pipeline.evaluate import Keys
from fine_pytest.pipeline.run import run_loaded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=220)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--mc-max-tokens", type=int, default=16)
    parser.add_argument("--chunk", type=int, default=512)
    parser.add_argument("--ways", nargs="+", default=["chunks", "stream", "one"], choices=["chunks", "stream", "one"])
    parser.add_argument("--compare-preload", metavar="LIBS", help="colon-separated libraries for LD_PRELOAD")
    parser.add_argument(
        "--abba", action="store_true", help="with --compare-preload: without, with, with, without (both orders)"
    )
    args = parser.parse_args()
    if args.compare_preload:
        compare_preload(args.compare_preload, args.abba)
        return
    preload = os.environ.get("LD_PRELOAD", "") or "none"  # read now: vLLM's CPU platform sets it for its workers
    pairs = pairs_of(args.pairs)
    settings = GenerationSettings(open=Sampling(args.max_tokens), mc=Sampling(args.mc_max_tokens))

    start = time.perf_counter()
    model = VllmModel("smollm2", context=ModelContext(verbose=0))
    engine_start = time.perf_counter() - start
    llm = model._llm
    # The pipeline's order: the open prompts, then both multiple-choice orders of each pair.
    messages = [open_prompt(p).messages() for p in pairs] + [mc_prompt(p, o).messages() for p in pairs for o in (0, 1)]
    params = [sampling_params(model._vllm, settings.open)] * len(pairs)
    params += [sampling_params(model._vllm, settings.mc)] * (2 * len(pairs))
    llm.chat([messages[0]], params[0], use_tqdm=False)  # one-off warm-up costs, carried by no way

    def chat_in(size: int) -> int:
        tokens = 0
        for begin in range(0, len(messages), size):
            outputs = llm.chat(messages[begin : begin + size], params[begin : begin + size], use_tqdm=False)
            tokens += sum(len(output.outputs[0].token_ids) for output in outputs)
        return tokens

    def stream() -> int:
        with tempfile.TemporaryDirectory() as folder, Cache(Path(folder, "responses.sqlite")) as cache:
            keys = Keys(model="smollm2", judge="refusal", run="bench")
            evaluated = run_loaded(pairs, model, RefusalJudge(), settings, cache, keys, args.chunk)
            assert len(evaluated.results) == len(pairs), evaluated.failures
        return -1  # the pipeline does not count tokens; the prompts and budgets are the same as the other ways

    ways = {"chunks": lambda: chat_in(args.chunk), "one": lambda: chat_in(len(messages)), "stream": stream}
    timings: dict[str, tuple[float, int]] = {}
    for way in args.ways:
        llm.reset_prefix_cache()  # no way is served from prompts an earlier way computed
        began = time.perf_counter()
        tokens = ways[way]()
        timings[way] = (time.perf_counter() - began, tokens)
        print(f"  {way}: {timings[way][0]:.1f} s", flush=True)
    model.close()

    print(
        f"pairs={len(pairs)} prompts={len(messages)} max_tokens={args.max_tokens}/{args.mc_max_tokens} "
        f"chunk={args.chunk} engine start {engine_start:.1f} s; LD_PRELOAD={preload}"
    )
    reference = timings.get("chunks", next(iter(timings.values())))[0]
    for way, (seconds, tokens) in timings.items():
        counted = f", {tokens} tokens" if tokens >= 0 else ""
        rate = len(messages) / seconds
        print(f"{way:>7}: {seconds:7.1f} s, {rate:5.2f} prompts/s, {seconds / reference:.3f}x{counted}")
    print("RESULT " + json.dumps({way: seconds for way, (seconds, _) in timings.items()}), flush=True)


def compare_preload(libraries: str, abba: bool) -> None:
    """The same ways in a child without and a child with the preload, one after the other.

    With ``abba`` it runs four children, without, with, with, without, so that a machine that warms up (or slows
    down) over the run weighs on both sides equally; each side's time is then the mean of its two children.
    """
    missing = [library for library in libraries.split(":") if not Path(library).is_file()]
    if missing:
        raise SystemExit(f"no such library: {', '.join(missing)}")
    flag = "--compare-preload"
    argv = [a for i, a in enumerate(sys.argv[1:]) if not a.startswith(flag) and sys.argv[i] != flag]
    argv = [a for a in argv if a != "--abba"]
    runs: dict[str, dict[str, list[float]]] = {}
    order = (("without", ""), ("with", libraries))
    for label, preload in order + tuple(reversed(order)) if abba else order:
        environment = {key: value for key, value in os.environ.items() if key != "LD_PRELOAD"}
        if preload:
            environment["LD_PRELOAD"] = preload
        print(f"== {label} the preload", flush=True)
        child = subprocess.run(
            [sys.executable, __file__, *argv], env=environment, stdout=subprocess.PIPE, text=True, check=True
        )
        print(child.stdout, end="", flush=True)
        result = json.loads(child.stdout.split("RESULT ", 1)[1].splitlines()[0])
        for way, seconds in result.items():
            runs.setdefault(label, {}).setdefault(way, []).append(seconds)
    for way in runs["without"]:
        before, after = runs["without"][way], runs["with"][way]
        each = f" (without {', '.join(f'{s:.1f}' for s in before)}; with {', '.join(f'{s:.1f}' for s in after)})"
        mean_before, mean_after = sum(before) / len(before), sum(after) / len(after)
        print(
            f"{way}: {mean_before:.1f} s without, {mean_after:.1f} s with the preload: "
            f"{mean_after / mean_before:.3f}x{each if abba else ''}"
        )


if __name__ == "__main__":
    main()
