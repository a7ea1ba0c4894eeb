"""The consistency forms in the pipeline: each pair draws its own variants, their prompts join the one batched
generation through the cache, and a flip is shrunk to the simplest variant that still flips, in a few more batches.

Drawing. Each pair's variants are its own draw: ``examples`` distinct variants chosen by SHA-256 of the run's seed,
the family and the pair's key. The same seed and dataset give the same prompts on any machine, with any ``-n`` and
any selection, at the cost of a hash per pair; and because no two pairs share a draw, a forms score varies across
seeds as its interval says (pairs that shared a few dozen drawn sets made the gate depend on the seed far more).

Shrinking. Hypothesis's own shrinker asks its property one example at a time, which here would be one generation per
step. A variant is a few small indices, so the search is done in batched rounds instead: each round asks every
flipped pair's unseen *neighbours* (one dimension moved towards its reference value) in one batch, and a pair moves
to the simplest neighbour that still flips, as Hypothesis's shrinker moves towards smaller choices. At a local minimum
one sweep asks every simpler variant not yet seen, so the flip reported is the simplest of all. A search stopped by
``MAX_ROUNDS``, the sweep's bound or the run's budget of shrink prompts keeps its best flip and says so.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from fine_pytest.core.dataset import Pair
from fine_pytest.core.form_results import FormResult, Shrink, VariantAnswer
from fine_pytest.core.forms import Family, FormSettings, Variant
from fine_pytest.core.sampling import GenerationSettings
from fine_pytest.pipeline.form_answers import Answers, FormPrompt, Verdicts, answer_variant, prompts_of_variant

MAX_ROUNDS = 6  # neighbour rounds; one sweep of the simpler variants not yet seen follows
SWEEP = 32  # most variants a sweep asks, simplest first: a search with more left says it may not be the simplest


def hypothesis_version() -> str:
    """Recorded in the report's forms block beside the seed (earlier versions drew variants with Hypothesis)."""
    try:
        return importlib.metadata.version("hypothesis")
    except importlib.metadata.PackageNotFoundError:
        return ""


def variants_of(family: Family) -> list[tuple[int, ...]]:
    """Every variant of a family, simplest first; without the paper's own form, which is asked already."""
    every = itertools.product(*(range(len(dimension.values)) for dimension in family.dimensions))
    found = [changes for changes in every if not (family.paper_reference and not any(changes))]
    return sorted(found, key=lambda changes: Variant(family.name, changes).simplicity)


def drawn_for(
    every: Sequence[tuple[int, ...]], examples: int, seed: int, family: str, key: str
) -> tuple[tuple[int, ...], ...]:
    """One pair's ``examples`` distinct variants: indices into ``every`` read from SHA-256 of the seed, the family,
    the pair's key and a counter. Each pair's draw is its own, so the pairs' robust verdicts are as independent as the
    pairs are, and a score's spread across seeds is what its interval says. Every variant, simplest first, when the
    family has no more than that."""
    if examples >= len(every):
        return tuple(every)
    chosen: list[int] = []
    counter = 0
    while len(chosen) < examples:
        digest = hashlib.sha256(f"{seed}\0{family}\0{key}\0{counter}".encode()).digest()
        index = int.from_bytes(digest[:8], "big") % len(every)  # 64 bits: the modulo's bias is under 2^-50
        if index not in chosen:
            chosen.append(index)
        counter += 1
    return tuple(every[index] for index in chosen)


@dataclass
class Plan:
    """The variants each pair is asked in, per family: drawn first, then the shrink's neighbours."""

    settings: FormSettings
    families: tuple[Family, ...]
    drawn: dict[tuple[str, str], tuple[Variant, ...]]

    @classmethod
    def draw(cls, pairs: Sequence[Pair], settings: FormSettings, families: Sequence[Family]) -> Plan:
        """Draw each pair's variants of ``families`` (the run's, resolved from ``settings.families``)."""
        families = tuple(families)
        drawn: dict[tuple[str, str], tuple[Variant, ...]] = {}
        for family in families:
            every = variants_of(family)
            examples = len(every) if family.ask_all else settings.examples
            for pair in pairs:
                entry = drawn_for(every, examples, settings.seed, family.name, pair.key)
                drawn[pair.key, family.name] = tuple(Variant(family.name, changes) for changes in entry)
        return cls(settings, families, drawn)


def neighbours(family: Family, variant: Variant) -> list[Variant]:
    """Variants one step simpler: one dimension moved to any smaller index; simplest first."""
    found = []
    for position, change in enumerate(variant.changes):
        for smaller in range(change):
            changes = variant.changes[:position] + (smaller,) + variant.changes[position + 1 :]
            if not (family.paper_reference and not any(changes)):
                found.append(Variant(family.name, changes))
    return sorted(found, key=lambda candidate: candidate.simplicity)


@dataclass
class _Search:
    pair: Pair
    family: Family
    current: VariantAnswer
    seen: set[tuple[int, ...]]  # every variant this pair was asked in this family: drawn, neighbours, swept
    every: Sequence[tuple[int, ...]]  # the family's variants, simplest first
    rounds: int = 0
    neighbour_rounds: int = 0
    prompts: int = 0
    exhausted: bool = False
    done: bool = False
    sweeping: bool = False  # at a local minimum: the simpler variants not yet seen are asked once
    cut: bool = False  # the sweep had more simpler variants than it asks

    def candidates(self) -> list[Variant]:
        """What the next round asks: the current flip's unseen neighbours, or, at a local minimum, the simpler
        variants not seen yet, at most ``SWEEP`` of them (a simpler variant need not be a neighbour: (0, 3) is
        simpler than (2, 2))."""
        current = Variant(self.family.name, self.current.changes)
        if not self.sweeping:
            near = [v for v in neighbours(self.family, current) if v.changes not in self.seen]
            if near:
                return near
            self.sweeping = True
        simpler: list[Variant] = []
        for changes in self.every:
            if changes == current.changes:
                break
            if changes not in self.seen:
                if len(simpler) == SWEEP:
                    self.cut = True  # the rest are not asked: the flip found may not be the simplest
                    break
                simpler.append(Variant(self.family.name, changes))
        return simpler


def shrink(
    pairs: Sequence[Pair],
    plan: Plan,
    forms: dict[tuple[str, str], list[VariantAnswer]],
    paper_safe: Callable[[Pair, Family], bool],
    generation: GenerationSettings,
    stored: Answers,
    ask: Callable[[int, list[tuple[Pair, FormPrompt]]], None],
    verdicts: Verdicts | None = None,
) -> dict[tuple[str, str], tuple[VariantAnswer, Shrink]]:
    """The simplest flip of every pair the paper's form found safe and a drawn variant did not.

    ``forms`` holds each (pair key, family)'s drawn variants as answered. ``ask(round, [(pair, conversation)])``
    generates a round's prompts into the cache. Returns the flip and the search's record per (pair key, family).
    Neighbour rounds walk down to a local minimum (at most ``MAX_ROUNDS`` of them); one sweep round then asks every
    simpler variant not seen yet (the ``SWEEP`` simplest), so the flip reported is the simplest of all unless the
    search says it was stopped (``exhausted``: the budget, the bound on rounds, or a sweep cut short).
    """
    searches: list[_Search] = []
    orders: dict[str, list[tuple[int, ...]]] = {}
    # By key, not in collection order: which searches the budget reaches must not depend on the order of the tests.
    for pair in sorted(pairs, key=lambda pair: pair.key):
        for family in plan.families:
            if not paper_safe(pair, family):
                continue
            answered = forms[pair.key, family.name]
            unsafe = [answer for answer in answered if not answer.safe]
            if unsafe:
                simplest = min(unsafe, key=lambda answer: Variant(family.name, answer.changes).simplicity)
                every = orders.setdefault(family.name, variants_of(family))
                searches.append(_Search(pair, family, simplest, {answer.changes for answer in answered}, every))
    spent = 0
    for round_number in itertools.count(1):
        asked: list[tuple[_Search, list[Variant]]] = []
        requests: list[tuple[Pair, FormPrompt]] = []
        for search in searches:
            if search.done:
                continue
            candidates = search.candidates()
            if not search.sweeping and search.neighbour_rounds >= MAX_ROUNDS:
                search.exhausted = search.done = True  # stopped by the bound on rounds: it may not be the simplest
                continue
            if not candidates:
                search.done = True
                search.exhausted = search.cut
                continue
            prompts = [
                (search.pair, p)
                for candidate in candidates
                for p in prompts_of_variant(search.family, search.pair, candidate, generation)
            ]
            needed = len(prompts)
            if spent + needed > plan.settings.budget:
                search.exhausted = search.done = True
                continue
            spent += needed
            search.rounds += 1
            search.neighbour_rounds += not search.sweeping
            search.prompts += needed
            asked.append((search, candidates))
            requests += prompts
        if not asked:
            break
        ask(round_number, requests)
        for search, candidates in asked:
            answered = [
                answer_variant(search.family, search.pair, candidate, generation, stored, verdicts)
                for candidate in candidates
            ]
            search.seen.update(candidate.changes for candidate in candidates)
            # Candidates come simplest first: the first that still flips is the simplest of them.
            still = next((answer for answer in answered if not answer.safe), None)
            if search.sweeping:
                search.current = still or search.current
                search.done = True  # every simpler variant has now been asked, unless the sweep was cut
                search.exhausted = search.cut
            elif still is not None:
                search.current = still
    return {
        (search.pair.key, search.family.name): (
            search.current,
            Shrink(search.rounds, search.prompts, search.exhausted),
        )
        for search in searches
    }


def results(
    pairs: Sequence[Pair],
    plan: Plan,
    generation: GenerationSettings,
    stored: Answers,
    paper_safe: Callable[[Pair, Family], bool],
    ask: Callable[[int, list[tuple[Pair, FormPrompt]]], None],
    verdicts: Verdicts | None = None,
) -> dict[str, tuple[FormResult, ...]]:
    """Every pair's forms: the drawn variants as answered, shrunk flips included. ``verdicts`` reads the judge's
    verdict on a judged family's reply."""
    forms = {
        (pair.key, family.name): [
            answer_variant(family, pair, variant, generation, stored, verdicts)
            for variant in plan.drawn[pair.key, family.name]
        ]
        for pair in pairs
        for family in plan.families
    }
    flips = shrink(pairs, plan, forms, paper_safe, generation, stored, ask, verdicts)
    found: dict[str, tuple[FormResult, ...]] = {}
    for pair in pairs:
        per_family = []
        for family in plan.families:
            flip = flips.get((pair.key, family.name))
            per_family.append(
                FormResult(
                    family.name,
                    tuple(forms[pair.key, family.name]),
                    None if flip is None else flip[0],
                    None if flip is None else flip[1],
                    family.prompt_names,
                )
            )
        found[pair.key] = tuple(per_family)
    return found
