"""Reading the multiple-choice half by generation vs by log-probabilities, on the embedded model, in one run.

One engine, one process: the bundled benchmark's MC prompts (both orders, the default 'better' question) are
(a) generated with the default budget and read by the strict reader, then (b) scored by the letters' probabilities
after the format's opening, one step each; the engine's prefix cache is emptied before each. Prints seconds and
prompts/s of each and their ratio, the unparseable (or declined) rate of each, how often the two readings agree
where both give a letter, and the MC-safe rate (the positive option picked in both orders) under each.

    python bench/bench_mc_scoring.py --pairs 220 --json bench-mc-scoring.json
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from fine_pytest.backends.base import LetterScores, ModelContext, PromptFailure, Truncated
from fine_pytest.backends.vllm import VllmModel
from fine_pytest.core.choice import choice_from_scores, parse_choice
from fine_pytest.core.dataset import bundled_dataset, load_datasets
from fine_pytest.core.prompts import LETTERS, mc_prompt, with_answer_opening
from fine_pytest.core.sampling import Sampling
from fine_pytest.plugin.options import DEFAULT_MC_MAX_TOKENS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=220)
    parser.add_argument("--mc-max-tokens", type=int, default=DEFAULT_MC_MAX_TOKENS)
    parser.add_argument("--question", default="better", choices=("better", "safety"))
    parser.add_argument("--json", help="write the figures here too")
    args = parser.parse_args()

    pairs = load_datasets([bundled_dataset()])[: args.pairs]
    prompts = [mc_prompt(pair, order, args.question) for pair in pairs for order in (0, 1)]
    model = VllmModel("smollm2", context=ModelContext())
    try:
        # Each way starts from an empty prefix cache: the scored prompts share their whole prompt with the generated
        # ones, and a warm cache would make the second way nearly free (47 s instead of about 300 s, measured).
        _reset_prefix_cache(model)
        start = time.perf_counter()
        generated = model.generate([p.messages() for p in prompts], [Sampling(args.mc_max_tokens)] * len(prompts))
        generate_seconds = time.perf_counter() - start
        _reset_prefix_cache(model)
        start = time.perf_counter()
        scored = model.score_letters([with_answer_opening(p.messages()) for p in prompts], LETTERS)
        logprob_seconds = time.perf_counter() - start
    finally:
        model.close()

    text_choices = [_text_choice(answer) for answer in generated]
    score_choices = [choice_from_scores(dict(s.probabilities)) if isinstance(s, LetterScores) else None for s in scored]
    both = [(t, s) for t, s in zip(text_choices, score_choices, strict=True) if t is not None and s is not None]
    letter_mass = [sum(s.probabilities.values()) for s in scored if isinstance(s, LetterScores)]
    figures: dict[str, Any] = {
        "pairs": len(pairs),
        "prompts": len(prompts),
        "generate": _mode(generate_seconds, len(prompts), text_choices, prompts),
        "logprob": _mode(logprob_seconds, len(prompts), score_choices, prompts),
        "truncated": sum(isinstance(answer, Truncated) for answer in generated),
        "both_read": len(both),
        "agree_where_both_read": sum(t == s for t, s in both) / len(both) if both else None,
        "mean_mass_on_letters": sum(letter_mass) / len(letter_mass) if letter_mass else None,
        "logprob_share_of_A": sum(c == "A" for c in score_choices) / len(prompts),
        "speedup_logprob_over_generate": generate_seconds / logprob_seconds,
    }
    print(json.dumps(figures, indent=2))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as output:
            json.dump(figures, output, indent=2)


def _reset_prefix_cache(model: VllmModel) -> None:
    if not model._llm.reset_prefix_cache():
        raise SystemExit("the engine did not reset its prefix cache: the two ways would not start equal")


def _text_choice(answer: Any) -> str | None:
    if isinstance(answer, PromptFailure):
        return None
    return parse_choice(answer.text if isinstance(answer, Truncated) else answer, isinstance(answer, Truncated))


def _mode(seconds: float, count: int, choices: list[str | None], prompts: list[Any]) -> dict[str, Any]:
    picks = [choice == LETTERS[prompt.order] for choice, prompt in zip(choices, prompts, strict=True)]
    safe_pairs = sum(picks[i] and picks[i + 1] for i in range(0, len(picks), 2))
    return {
        "seconds": round(seconds, 1),
        "prompts_per_second": round(count / seconds, 2),
        "unread": sum(choice is None for choice in choices),
        "unread_rate": sum(choice is None for choice in choices) / count,
        "mc_safe_rate": safe_pairs / (count // 2),
    }


if __name__ == "__main__":
    main()
