"""The multiple-choice half read four ways on the embedded model, in one run: generation with the old budget (128
tokens, no stop), generation stopped after the declaration (the default), commitment and log-probabilities.

One engine, one process: the bundled benchmark's MC prompts (both orders, the default 'better' question) are
(a) generated with a 128-token budget and no stop, (b) generated with the default budget and the stop at ']]', both
read by the exact grammar; (c) answered freely (the commit prompt, the commit budget) and then continued with the
cue and scored one step; (d) scored by the letters' probabilities after the format's opening, one step each. The
engine's prefix cache is emptied before each. Prints seconds, prompts/s and tokens generated (the answers
re-tokenized) of each and the ratios, the unread rate, and the MC-safe rate (the positive option picked in both
orders) under each.

    python bench/bench_mc_scoring.py --pairs 220 --json bench-mc-scoring.json
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any

from fine_pytest.backends.base import Answer, LetterScores, ModelContext, PromptFailure, Truncated
from fine_pytest.backends.vllm import VllmModel
from fine_pytest.core.choice import choice_from_scores, read_choice
from fine_pytest.core.dataset import bundled_dataset, load_datasets
from fine_pytest.core.defaults import DEFAULT_COMMIT_MAX_TOKENS, DEFAULT_MC_MAX_TOKENS
from fine_pytest.core.prompts import LETTERS, MC_STOP, mc_prompt, with_answer_opening, with_commitment
from fine_pytest.core.sampling import Sampling

OLD_BUDGET = 128


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=220)
    parser.add_argument("--mc-max-tokens", type=int, default=DEFAULT_MC_MAX_TOKENS)
    parser.add_argument("--commit-max-tokens", type=int, default=DEFAULT_COMMIT_MAX_TOKENS)
    parser.add_argument("--question", default="better", choices=("better", "safety"))
    parser.add_argument("--json", help="write the figures here too")
    args = parser.parse_args()

    pairs = load_datasets([bundled_dataset()])[: args.pairs]
    prompts = [mc_prompt(pair, order, args.question) for pair in pairs for order in (0, 1)]
    free_prompts = [mc_prompt(pair, order, args.question, free=True) for pair in pairs for order in (0, 1)]
    orders = [prompt.order for prompt in prompts]
    model = VllmModel("smollm2", context=ModelContext())
    tokenizer = model._llm.get_tokenizer()

    def tokens(answers: list[Answer]) -> int:
        texts = [a.text if isinstance(a, Truncated) else a for a in answers if not isinstance(a, PromptFailure)]
        return sum(len(tokenizer.encode(text, add_special_tokens=False)) for text in texts)

    figures: dict[str, Any] = {"pairs": len(pairs), "prompts": len(prompts)}
    try:
        for name, sampling in (
            ("generate_old_budget", Sampling(OLD_BUDGET)),
            ("generate_stopped", Sampling(args.mc_max_tokens, stop=MC_STOP)),
        ):
            generated, seconds = _timed(
                model, lambda s=sampling: model.generate(_messages(prompts), [s] * len(prompts))
            )
            choices = [_text_choice(answer) for answer in generated]
            figures[name] = _mode(seconds, choices, orders) | {"tokens": tokens(generated)}
        free_sampling = Sampling(args.commit_max_tokens)
        free, free_seconds = _timed(
            model, lambda: model.generate(_messages(free_prompts), [free_sampling] * len(prompts))
        )
        continued = [
            with_commitment(prompt.messages(), "" if isinstance(a, PromptFailure) else _text(a))
            for prompt, a in zip(free_prompts, free, strict=True)
        ]
        committed, commit_seconds = _timed(model, lambda: model.score_letters(continued, LETTERS), reset=False)
        figures["commit"] = _mode(free_seconds + commit_seconds, _scored(committed), orders) | {
            "tokens": tokens(free),
            "free_answer_seconds": round(free_seconds, 1),
        }
        opened = [with_answer_opening(prompt.messages()) for prompt in prompts]
        scored, seconds = _timed(model, lambda: model.score_letters(opened, LETTERS))
        figures["logprob"] = _mode(seconds, _scored(scored), orders) | {"tokens": len(prompts)}
    finally:
        model.close()
    old, stopped = figures["generate_old_budget"], figures["generate_stopped"]
    figures["ratios"] = {
        "stopped_vs_old_budget_seconds": round(stopped["seconds"] / old["seconds"], 3),
        "stopped_vs_old_budget_tokens": round(stopped["tokens"] / max(1, old["tokens"]), 3),
        "commit_vs_stopped_seconds": round(figures["commit"]["seconds"] / stopped["seconds"], 3),
        "logprob_vs_stopped_seconds": round(figures["logprob"]["seconds"] / stopped["seconds"], 3),
    }
    print(json.dumps(figures, indent=2))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as output:
            json.dump(figures, output, indent=2)


def _messages(prompts: list[Any]) -> list[Any]:
    return [prompt.messages() for prompt in prompts]


def _timed(model: VllmModel, call: Callable[[], Any], reset: bool = True) -> tuple[Any, float]:
    # Each way starts from an empty prefix cache, so that no way rides on another's; the commitment step continues
    # the free answers it follows, as a run does.
    if reset and not model._llm.reset_prefix_cache():
        raise SystemExit("the engine did not reset its prefix cache: the ways would not start equal")
    start = time.perf_counter()
    result = call()
    return result, time.perf_counter() - start


def _text(answer: Any) -> str:
    return str(answer.text if isinstance(answer, Truncated) else answer)


def _text_choice(answer: Any) -> str | None:
    if isinstance(answer, PromptFailure):
        return None
    return read_choice(_text(answer), isinstance(answer, Truncated)).choice


def _scored(scores: list[Any]) -> list[str | None]:
    return [choice_from_scores(dict(s.probabilities)) if isinstance(s, LetterScores) else None for s in scores]


def _mode(seconds: float, choices: list[str | None], orders: list[int]) -> dict[str, Any]:
    count = len(choices)
    picks = [choice == LETTERS[order] for choice, order in zip(choices, orders, strict=True)]
    safe_pairs = sum(picks[i] and picks[i + 1] for i in range(0, len(picks), 2))
    return {
        "seconds": round(seconds, 1),
        "prompts_per_second": round(count / seconds, 2),
        "unread": sum(choice is None for choice in choices),
        "letters": {letter: sum(choice == letter for choice in choices) for letter in LETTERS},
        "mc_safe_rate": safe_pairs / (count // 2),
    }


if __name__ == "__main__":
    main()
