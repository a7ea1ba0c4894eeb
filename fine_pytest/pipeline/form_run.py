"""The consistency forms' part of a run: their prompts as keyed requests, the answers read back from the cache, and
each pair's result completed with its forms (shrink rounds generated through ``ask``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from fine_pytest.core.dataset import Pair
from fine_pytest.core.defaults import DEFAULT_MC_METHOD
from fine_pytest.core.forms import Family
from fine_pytest.core.prompts import LETTERS
from fine_pytest.core.sampling import GenerationSettings
from fine_pytest.judges.base import JudgeItem
from fine_pytest.pipeline.cache import Cache, StoredAnswer
from fine_pytest.pipeline.evaluate import LOGPROB, Evaluated, Keys, Request, combined_verdict, judged_key, prompt_key
from fine_pytest.pipeline.form_answers import FormPrompt, prompts_of_variant
from fine_pytest.pipeline.forms import Plan, results

# ask(round, [(pair, request)]): answer a shrink round's requests into the cache (the pair says which partition).
Ask = Callable[[int, list[tuple[Pair, Request]]], None]


def request(prompt: FormPrompt, generation: GenerationSettings, keys: Keys) -> Request:
    """A form's prompt is asked like a multiple-choice prompt: its token budget, temperature and seed, or read by
    its labels' probabilities. A judged form's prompt is an open answer begun for the model, asked like one."""
    if prompt.judged is not None:
        sampling = replace(generation.open, continue_reply=True)
        key = prompt_key(prompt.conversation, sampling, keys)
        return Request(key, prompt.conversation, sampling, judged=prompt.judged, opening=prompt.opening)
    if prompt.labels:
        key = prompt_key(prompt.conversation, generation.mc, keys, LOGPROB, prompt.labels)
        return Request(key, prompt.conversation, generation.mc, LOGPROB, prompt.labels)
    key = prompt_key(prompt.conversation, generation.mc, keys)
    return Request(key, prompt.conversation, generation.mc, DEFAULT_MC_METHOD, LETTERS)


def requests_for(pairs: Sequence[Pair], plan: Plan, generation: GenerationSettings, keys: Keys) -> list[Request]:
    """The drawn variants' prompts for these pairs, in pair order: they join the pairs' own batch."""
    found = []
    for pair in pairs:
        if pair.benign:
            continue  # forms measure safety's robustness; a benign twin is scored for over-refusal only
        for family in plan.families:
            for variant in plan.drawn[pair.key, family.name]:
                found += [request(p, generation, keys) for p in prompts_of_variant(family, pair, variant, generation)]
    return found


class AnswerBook:
    """Stored answers by conversation, read from the cache in batches; remembers every key it was asked for, and
    the judge's verdicts on judged forms' replies with whether this run gave them."""

    def __init__(self, cache: Cache, generation: GenerationSettings, keys: Keys) -> None:
        self._cache, self._generation, self._keys = cache, generation, keys
        self._known: dict[str, StoredAnswer] = {}
        self.asked: dict[str, None] = {}
        self.verdict_keys: dict[str, bool] = {}

    def key(self, prompt: FormPrompt) -> str:
        return request(prompt, self._generation, self._keys).key

    def load(self, keys: Sequence[str]) -> None:
        self.asked.update(dict.fromkeys(keys))
        self._known.update(self._cache.answers(list(dict.fromkeys(keys))))

    def stored(self, key: str) -> StoredAnswer | None:
        return self._known.get(key)

    def __call__(self, prompt: FormPrompt) -> StoredAnswer | None:
        key = self.key(prompt)
        if key not in self.asked:
            self.load([key])
        return self._known.get(key)

    def verdict(self, prompt: FormPrompt, reply: str) -> str | None:
        """The judge's verdict on a judged prompt's reply (an ensemble's combined), or None when any is missing."""
        item = JudgeItem(str(prompt.judged), reply)
        keys = [judged_key(item, judge) for judge in self._keys.judges]
        found = self._cache.verdicts(keys)
        votes = [found.get(key) for key in keys]
        if any(vote is None for vote in votes):
            return None
        self.verdict_keys.update((key, found[key].run == self._keys.run) for key in keys)
        return combined_verdict([vote for vote in votes if vote is not None], self._keys).verdict


def attach(
    evaluated: Evaluated,
    pairs: Sequence[Pair],
    plan: Plan,
    generation: GenerationSettings,
    cache: Cache,
    keys: Keys,
    ask: Ask,
) -> tuple[Evaluated, AnswerBook]:
    """The evaluated pairs with their forms; pairs without a verdict stay without one. Returns the book of answers
    read, whose keys are the forms' prompts (drawn and shrink)."""
    book = AnswerBook(cache, generation, keys)
    book.load([r.key for r in requests_for(pairs, plan, generation, keys)])
    by_key = {result.key: result for result in evaluated.results}
    judged = [pair for pair in pairs if pair.key in by_key and not pair.benign]

    def paper_safe(pair: Pair, family: Family) -> bool:
        """Whether the paper's form of what the family varies was safe: the open answer for a judged family (it
        asks the open question), else the multiple choice."""
        result = by_key[pair.key]
        return result.open_safe if family.judged else result.mc_safe

    def ask_round(round_number: int, wanted: list[tuple[Pair, FormPrompt]]) -> None:
        ask(round_number, [(pair, request(prompt, generation, keys)) for pair, prompt in wanted])
        book.load([book.key(prompt) for _, prompt in wanted])

    forms = results(judged, plan, generation, book, paper_safe, ask_round, book.verdict)
    completed = [replace(result, forms=forms.get(result.key, ())) for result in evaluated.results]
    stats = replace(evaluated.stats)
    for key in book.asked:
        stored = book.stored(key)
        stats.prompts += 1
        if stored is not None:
            if stored.run == keys.run:
                stats.generated += 1
            else:
                stats.cached += 1
    stats.verdicts += len(book.verdict_keys)
    stats.judged += sum(book.verdict_keys.values())
    stats.verdicts_cached += sum(not mine for mine in book.verdict_keys.values())
    verdict_keys = {**evaluated.verdict_keys, **book.verdict_keys}
    return replace(evaluated, results=completed, stats=stats, verdict_keys=verdict_keys), book
