"""The consistency forms' part of a run: their prompts as keyed requests, the answers read back from the cache, and
each pair's result completed with its forms (shrink rounds generated through ``ask``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from fine_pytest.core.dataset import Pair
from fine_pytest.core.sampling import GenerationSettings
from fine_pytest.pipeline.cache import Cache, StoredAnswer
from fine_pytest.pipeline.evaluate import Evaluated, Keys, Request, prompt_key
from fine_pytest.pipeline.forms import Conversation, Plan, conversations, results

# ask(round, [(pair, request)]): answer a shrink round's requests into the cache (the pair says which partition).
Ask = Callable[[int, list[tuple[Pair, Request]]], None]


def request(conversation: Conversation, generation: GenerationSettings, keys: Keys) -> Request:
    """A form's prompt is asked like a multiple-choice prompt: its token budget, temperature and seed."""
    return Request(prompt_key(conversation, generation.mc, keys), conversation, generation.mc)


def requests_for(pairs: Sequence[Pair], plan: Plan, generation: GenerationSettings, keys: Keys) -> list[Request]:
    """The drawn variants' prompts for these pairs, in pair order: they join the pairs' own batch."""
    found = []
    for pair in pairs:
        for family in plan.families:
            for variant in plan.drawn[pair.key, family.name]:
                found += [request(c, generation, keys) for c in conversations(pair, variant, generation)]
    return found


class AnswerBook:
    """Stored answers by conversation, read from the cache in batches; remembers every key it was asked for."""

    def __init__(self, cache: Cache, generation: GenerationSettings, keys: Keys) -> None:
        self._cache, self._generation, self._keys = cache, generation, keys
        self._known: dict[str, StoredAnswer] = {}
        self.asked: dict[str, None] = {}

    def key(self, conversation: Conversation) -> str:
        return prompt_key(conversation, self._generation.mc, self._keys)

    def load(self, keys: Sequence[str]) -> None:
        self.asked.update(dict.fromkeys(keys))
        self._known.update(self._cache.answers(list(dict.fromkeys(keys))))

    def stored(self, key: str) -> StoredAnswer | None:
        return self._known.get(key)

    def __call__(self, conversation: Conversation) -> StoredAnswer | None:
        key = self.key(conversation)
        if key not in self.asked:
            self.load([key])
        return self._known.get(key)


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
    judged = [pair for pair in pairs if pair.key in by_key]

    def paper_safe(pair: Pair) -> bool:
        return by_key[pair.key].mc_safe

    def ask_round(round_number: int, wanted: list[tuple[Pair, Conversation]]) -> None:
        ask(round_number, [(pair, request(conversation, generation, keys)) for pair, conversation in wanted])
        book.load([book.key(conversation) for _, conversation in wanted])

    forms = results(judged, plan, generation, book, paper_safe, ask_round)
    completed = [replace(result, forms=forms[result.key]) for result in evaluated.results]
    stats = replace(evaluated.stats)
    for key in book.asked:
        stored = book.stored(key)
        stats.prompts += 1
        if stored is not None:
            if stored.run == keys.run:
                stats.generated += 1
            else:
                stats.cached += 1
    return replace(evaluated, results=completed, stats=stats), book
