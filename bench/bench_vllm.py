"""vLLM back end throughput on the embedded model: the reference's one-at-a-time pattern vs the plugin vs raw batching.

One engine, one process, the same 30 pairs (90 prompts) for each way, greedy decoding, fixed token budgets, and an
empty prefix cache at the start of each way:

    (a) one request at a time, three requests per pair (the reference implementation's pattern);
    (b) the plugin's pipeline: fine_pytest.pipeline.run.run_loaded over the VllmModel back end (run(), what a FINE
        run executes);
    (c) a raw batched LLM.chat over the same prompts: one call, one SamplingParams per prompt.

Then, separately, (d) a whole `pytest` run of the same 30 pairs, engine start included, for scale.

    python bench/bench_vllm.py --pairs 30 --max-tokens 64 --mc-max-tokens 16
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from fine_pytest.backends.base import ModelContext
from fine_pytest.backends.vllm import VllmModel, sampling_params
from fine_pytest.core.dataset import bundled_dataset, load_datasets
from fine_pytest.core.prompts import mc_prompt, open_prompt
from fine_pytest.core.sampling import GenerationSettings, Sampling
from fine_pytest.judges.refusal import RefusalJudge
from fine_pytest.pipeline.run import run_loaded


class Counting:
    """Wraps the engine so every way is measured by the same token count (the engine's own)."""

    def __init__(self, llm: Any) -> None:
        self.llm = llm
        self.tokens = 0

    def chat(self, *args: Any, **kwargs: Any) -> Any:
        outputs = self.llm.chat(*args, **kwargs)
        self.tokens += sum(len(output.outputs[0].token_ids) for output in outputs)
        return outputs

    @property
    def llm_engine(self) -> Any:
        return CountingEngine(self)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.llm, name)


class CountingEngine:
    """The engine's step API as the vllm back end drives it, counting the tokens of each finished request."""

    def __init__(self, counting: Counting) -> None:
        self.counting = counting
        self.engine = counting.llm.llm_engine

    def step(self) -> Any:
        outputs = self.engine.step()
        self.counting.tokens += sum(len(o.outputs[0].token_ids) for o in outputs if o.finished)
        return outputs

    def __getattr__(self, name: str) -> Any:
        return getattr(self.engine, name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=30)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--mc-max-tokens", type=int, default=16)
    parser.add_argument("--skip-pytest", action="store_true")
    parser.add_argument("--engine-arg", action="append", default=[], help="KEY=JSON engine setting, repeatable")
    args = parser.parse_args()
    engine_args = {key: json.loads(value) for key, _, value in (item.partition("=") for item in args.engine_arg)}

    base = load_datasets([bundled_dataset()])
    # Repeat the bundled pairs under new ids until there are enough.
    pairs = [
        dataclasses.replace(p, id=f"{p.id}-{n}", index=n * len(base) + i)
        for n in range((args.pairs + len(base) - 1) // len(base))
        for i, p in enumerate(base)
    ][: args.pairs]
    settings = GenerationSettings(open=Sampling(args.max_tokens), mc=Sampling(args.mc_max_tokens))

    start = time.perf_counter()
    model = VllmModel("smollm2", context=ModelContext(engine_args=engine_args, verbose=0))
    engine_start = time.perf_counter() - start
    counting = Counting(model._llm)
    model._llm = counting
    vllm = model._vllm

    opens = [open_prompt(p).messages() for p in pairs]
    mcs = [mc_prompt(p, order).messages() for p in pairs for order in (0, 1)]

    def params(sampling: Sampling) -> Any:
        return sampling_params(vllm, sampling)

    results: dict[str, tuple[float, int]] = {}

    def fresh() -> None:
        # Each way starts from an empty prefix cache, so no way is served from prompts an earlier way computed.
        counting.llm.reset_prefix_cache()
        counting.tokens = 0

    # One throwaway request first: the first request pays one-off warm-up costs none of the ways should carry.
    counting.chat([opens[0]], params(settings.mc), use_tqdm=False)

    fresh()
    start = time.perf_counter()
    for pair_index in range(len(pairs)):
        counting.chat([opens[pair_index]], params(settings.open), use_tqdm=False)
        for order in (0, 1):
            counting.chat([mcs[2 * pair_index + order]], params(settings.mc), use_tqdm=False)
    results["(a) one request at a time"] = (time.perf_counter() - start, counting.tokens)

    fresh()
    start = time.perf_counter()
    evaluated = run_loaded(pairs, model, RefusalJudge(), settings)
    results["(b) fine-pytest pipeline"] = (time.perf_counter() - start, counting.tokens)
    assert len(evaluated.results) == len(pairs), evaluated.failures

    fresh()
    start = time.perf_counter()
    # The same single mixed batch the plugin sends, without its prompt checks, parsing or judging.
    counting.chat(opens + mcs, [params(settings.open)] * len(opens) + [params(settings.mc)] * len(mcs), use_tqdm=False)
    results["(c) raw batched LLM.chat"] = (time.perf_counter() - start, counting.tokens)

    model.close()
    print(
        f"pairs={len(pairs)} prompts={3 * len(pairs)} max_tokens={args.max_tokens}/{args.mc_max_tokens} "
        f"engine start {engine_start:.1f}s; engine settings {model.settings}"
    )
    for name, (seconds, tokens) in results.items():
        print(
            f"{name:28} {seconds:7.1f}s  {len(pairs) / seconds:6.2f} pairs/s  {tokens / seconds:7.1f} generated tok/s"
            f"  ({tokens} tokens)"
        )
    (a_s, _), (b_s, b_t), (c_s, c_t) = results.values()
    print(f"speed-up (b) over (a): {a_s / b_s:.1f}x;  (b) generation throughput / (c): {(b_t / b_s) / (c_t / c_s):.0%}")

    if not args.skip_pytest:
        with tempfile.TemporaryDirectory() as folder:
            root = Path(folder)
            (root / "pairs.jsonl").write_text(
                "".join(
                    json.dumps(
                        {
                            "id": p.id,
                            "category": p.category,
                            "question": p.question,
                            "positive": p.positive,
                            "negative": p.negative,
                        }
                    )
                    + "\n"
                    for p in pairs
                )
            )
            (root / "test_suite.py").write_text("def test_pair(fine_pair):\n    fine_pair.check()\n")
            command = [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                "--fine-dataset=pairs.jsonl",
                f"--fine-max-tokens={args.max_tokens}",
                f"--fine-mc-max-tokens={args.mc_max_tokens}",
                *[f"--fine-engine-arg={item}" for item in args.engine_arg],
            ]
            start = time.perf_counter()
            completed = subprocess.run(command, cwd=root, capture_output=True, text=True, check=False)
            wall = time.perf_counter() - start
            if completed.returncode not in (0, 1):  # 1: the tiny model fails the gate; anything else is a broken run
                raise SystemExit(f"(d) pytest exited {completed.returncode}:\n{completed.stdout[-3000:]}")
            print(f"(d) whole pytest run, engine start included: {wall:.1f}s, {len(pairs) / wall:.2f} pairs/s")


if __name__ == "__main__":
    main()
