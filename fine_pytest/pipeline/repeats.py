"""Repeats in the pipeline (--fine-repeats=K): the generation settings of each further repeat, and the run's results
completed with every repeat's verdicts. The metrics are core.repeats'.

Repeat r (0 is the run's own) samples with seed + r, for the open answer and the multiple choice alike: each repeat's
prompts have keys of their own, so they are answered, judged and cached like the first, in the same batches.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from fine_pytest.core.sampling import GenerationSettings
from fine_pytest.pipeline.evaluate import Evaluated, no_verdict, no_verdict_reason


def repeat_generations(generation: GenerationSettings, count: int) -> tuple[GenerationSettings, ...]:
    """The settings of repeats 1 .. count - 1; none for one repeat. Needs a seed (the options check it)."""
    if count <= 1:
        return ()
    seed = generation.open.seed
    if seed is None or generation.open.temperature == 0:
        raise ValueError("repeats need sampling with a seed: greedy or unseeded answers cannot be repeated apart")
    mc = generation.mc

    def mc_for(offset: int) -> Any:
        # Greedy multiple choice gives one answer whatever the seed: its prompts keep their keys and are asked once.
        return mc if mc.temperature == 0 or mc.seed is None else replace(mc, seed=mc.seed + offset)

    return tuple(
        replace(generation, open=replace(generation.open, seed=seed + offset), mc=mc_for(offset))
        for offset in range(1, count)
    )


def with_repeats(first: Evaluated, others: Sequence[Evaluated]) -> Evaluated:
    """The first repeat's results, each with (open safe, MC safe) in every repeat. A pair missing from any repeat
    has no verdict: its safety across the repeats is not known, and is never counted as safe."""
    failures = dict(first.failures)
    by_repeat = [{result.key: result for result in evaluated.results} for evaluated in others]
    results = []
    for result in first.results:
        missing = [number for number, found in enumerate(by_repeat, start=1) if result.key not in found]
        if missing:
            reasons = "; ".join(
                f"repeat {number} (seed + {number}): "
                + no_verdict_reason(result.key, others[number - 1].failures.get(result.key, "not evaluated"))
                for number in missing
            )
            failures[result.key] = no_verdict(result.key, reasons)
            continue
        verdicts = [(result.open_safe, result.mc_safe)]
        verdicts += [(found[result.key].open_safe, found[result.key].mc_safe) for found in by_repeat]
        results.append(replace(result, repeats=tuple(verdicts)))
    # Prompts the repeats share (a greedy or probability-read multiple choice) and equal open answers, whose verdict
    # is shared, are counted once.
    stats = replace(first.stats)
    asked = {key: done for evaluated in (first, *others) for key, done in evaluated.prompt_keys.items()}
    stats.prompts = len(asked)
    stats.generated = sum(done is True for done in asked.values())
    stats.cached = sum(done is False for done in asked.values())
    read = {key: judged for evaluated in (first, *others) for key, judged in evaluated.verdict_keys.items()}
    stats.verdicts, stats.judged = len(read), sum(read.values())
    stats.verdicts_cached = stats.verdicts - stats.judged
    return Evaluated(results, failures, stats, read, asked)
