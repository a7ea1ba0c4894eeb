"""What repeats cost on the embedded model (--fine-repeats=K): prompts answered per second and the cache's hit rate
at K = 1, 3 and 5, one run after another on one cache, then K = 5 again from the cache alone.

One engine, one process: the first N pairs of the bundled benchmark, sampled at temperature 0.7 from seed 0 and
judged by the refusal heuristic. A run at K asks K x 3 prompts a pair; the prompts of the repeats an earlier run
asked come from the cache (K = 3 after K = 1 finds one repeat in three), so the figures show what a run with more
repeats adds, and that a re-run asks the model nothing.

    python bench/bench_repeats.py --pairs 10 --json bench-repeats.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from fine_pytest.backends.base import ModelContext
from fine_pytest.backends.vllm import VllmModel
from fine_pytest.core.dataset import bundled_dataset, load_datasets
from fine_pytest.core.repeats import repeat_scores
from fine_pytest.core.sampling import GenerationSettings
from fine_pytest.judges.refusal import RefusalJudge
from fine_pytest.pipeline.cache import Cache
from fine_pytest.pipeline.evaluate import Keys
from fine_pytest.pipeline.run import run_loaded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=10)
    parser.add_argument("--json", help="write the figures here too")
    args = parser.parse_args()
    pairs = load_datasets([bundled_dataset()])[: args.pairs]
    generation = GenerationSettings.default(temperature=0.7, seed=0)
    model = VllmModel("smollm2", context=ModelContext())
    judge = RefusalJudge()
    figures: dict[str, Any] = {"pairs": len(pairs), "runs": []}
    try:
        with tempfile.TemporaryDirectory() as folder, Cache(Path(folder, "responses.sqlite")) as cache:
            for number, repeats in enumerate((1, 3, 5, 5)):
                keys = Keys(model="smollm2", judge="refusal", run=f"bench-{number}")
                start = time.perf_counter()
                outcome = run_loaded(pairs, model, judge, generation, cache, keys, repeats=repeats)
                seconds = time.perf_counter() - start
                stats = outcome.stats or {}
                scores = repeat_scores(outcome.results)
                figures["runs"].append(
                    {
                        "repeats": repeats,
                        "seconds": round(seconds, 2),
                        "prompts": stats.get("prompts"),
                        "generated": stats.get("generated"),
                        "cached": stats.get("cached"),
                        "hit_rate": round(stats.get("cached", 0) / max(stats.get("prompts", 0), 1), 3),
                        "generated_per_second": round(stats.get("generated", 0) / seconds, 2) if seconds else None,
                        "flaky": None if scores is None else len(scores.flaky),
                    }
                )
    finally:
        model.close()
    print(json.dumps(figures, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
