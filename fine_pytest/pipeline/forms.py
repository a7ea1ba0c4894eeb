"""The consistency forms in the pipeline: Hypothesis draws each pair's variants, their prompts join the one batched
generation through the cache, and a flip is shrunk to the simplest variant that still flips, in a few more batches.

Drawing. For each family, one Hypothesis run seeded by the run's seed draws a *deck* of variant sets (distinct
variants, ``examples`` of them); a pair takes the set its key hashes to. The same seed, dataset and Hypothesis
version give the same prompts on any machine, with any ``-n`` and any selection, and one Hypothesis run per family
keeps the cost per pair a hash: drawing per pair cost about 5 ms a pair (50 s at 10,000 pairs).

Shrinking. Hypothesis's own shrinker asks its property one example at a time, which here would be one generation per
step. A variant is a few small indices, so the search is done in batched rounds instead: each round asks every
flipped pair's *neighbours* (one dimension moved towards its reference value) in one batch, and a pair moves to the
simplest neighbour that still flips, as Hypothesis's shrinker moves towards smaller choices. It stops when no
neighbour flips (a local minimum in the family's order of simplicity), after ``MAX_ROUNDS``, or when the run's
budget of shrink prompts is spent; a pair stopped by the budget keeps its flip and says so.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from fine_pytest.core.dataset import Pair
from fine_pytest.core.errors import FineError
from fine_pytest.core.form_results import FormResult, Shrink, VariantAnswer
from fine_pytest.core.forms import Family, FormSettings, Variant
from fine_pytest.core.sampling import GenerationSettings
from fine_pytest.pipeline.form_answers import Answers, FormPrompt, answer_variant, prompts_of_variant

MAX_ROUNDS = 6
DECK = 256  # most variant sets drawn per family; pairs share them by the hash of their key


def hypothesis_version() -> str:
    return importlib.metadata.version("hypothesis")


def variants_of(family: Family) -> list[tuple[int, ...]]:
    """Every variant of a family, simplest first; without the paper's own form, which is asked already."""
    every = itertools.product(*(range(len(dimension.values)) for dimension in family.dimensions))
    found = [changes for changes in every if not (family.paper_reference and not any(changes))]
    return sorted(found, key=lambda changes: Variant(family.name, changes).simplicity)


def deck_size(choices: int) -> int:
    # Enough sets that pairs rarely share one, few enough that a deck stays within what one Hypothesis example holds.
    return max(8, min(DECK, 3000 // max(choices, 1)))


def _deck(family: Family, examples: int, seed: int) -> tuple[tuple[tuple[int, ...], ...], ...]:
    """Sets of ``examples`` distinct variants, drawn by Hypothesis from ``seed``; every variant, simplest first,
    when the family has no more than that."""
    return _drawn_deck(tuple(variants_of(family)), examples, seed, family.name)


@functools.lru_cache(maxsize=64)
def _drawn_deck(
    every: tuple[tuple[int, ...], ...], examples: int, seed: int, name: str
) -> tuple[tuple[tuple[int, ...], ...], ...]:
    """The draw, a function of the variants, the count and the seed alone (and of Hypothesis's version), so one
    process draws each deck once (a library user's repeated runs, a batch file's rounds), not once per run.

    Each index is built from coin flips (``st.booleans()``), not ``st.integers``: Hypothesis sometimes draws an
    integer from the constants it finds in the project's own modules, which would make the draw depend on the code
    loaded beside it. A coin flip is never a constant. Two spare candidates per set stand in for repeats; a set
    still short is filled with the simplest variants it lacks.
    """
    if examples >= len(every):
        return (every,)
    from hypothesis import HealthCheck, Phase, Verbosity, given, settings
    from hypothesis import seed as hypothesis_seed
    from hypothesis import strategies as st
    from hypothesis.errors import HypothesisException

    bits = max(1, (len(every) - 1).bit_length()) + 8  # 8 spare bits keep the modulo's bias under 1/256
    index = st.lists(st.booleans(), min_size=bits, max_size=bits).map(
        lambda flips: sum(flip << position for position, flip in enumerate(flips)) % len(every)
    )
    candidates = examples + 2
    size = deck_size(candidates * bits)
    drawn: list[list[list[int]]] = []

    # Hypothesis's first example is its simplest (every flip False); the second is drawn from the seed.
    @hypothesis_seed(seed)
    @settings(
        database=None,
        max_examples=2,
        phases=[Phase.generate],
        deadline=None,
        derandomize=False,
        backend="hypothesis",  # a profile in the user's conftest may name another (random) back end
        verbosity=Verbosity.quiet,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.lists(st.lists(index, min_size=candidates, max_size=candidates), min_size=size, max_size=size))
    def collect(deck: list[list[int]]) -> None:
        drawn.append(deck)

    try:
        collect()
    except HypothesisException as error:
        raise FineError(f"--fine-forms: Hypothesis could not draw variants of {name!r}: {error}") from None
    sets = []
    for entry in drawn[-1]:
        chosen = list(dict.fromkeys(entry))[:examples]
        chosen += [index for index in range(len(every)) if index not in chosen][: examples - len(chosen)]
        sets.append(tuple(every[index] for index in chosen))
    return tuple(sets)


def _slot(family: str, key: str, count: int) -> int:
    return int.from_bytes(hashlib.sha256(f"{family}\0{key}".encode()).digest()[:8], "big") % count


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
            deck = _deck(family, settings.examples, settings.seed)
            for pair in pairs:
                entry = deck[_slot(family.name, pair.key, len(deck))]
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
    rounds: int = 0
    prompts: int = 0
    exhausted: bool = False
    done: bool = False


def shrink(
    pairs: Sequence[Pair],
    plan: Plan,
    forms: dict[tuple[str, str], list[VariantAnswer]],
    paper_safe: Callable[[Pair], bool],
    generation: GenerationSettings,
    stored: Answers,
    ask: Callable[[int, list[tuple[Pair, FormPrompt]]], None],
) -> dict[tuple[str, str], tuple[VariantAnswer, Shrink]]:
    """The simplest flip of every pair the paper's form found safe and a drawn variant did not.

    ``forms`` holds each (pair key, family)'s drawn variants as answered. ``ask(round, [(pair, conversation)])``
    generates a round's prompts into the cache. Returns the flip and the search's record per (pair key, family).
    """
    searches: list[_Search] = []
    # By key, not in collection order: which searches the budget reaches must not depend on the order of the tests.
    for pair in sorted(pairs, key=lambda pair: pair.key):
        if not paper_safe(pair):
            continue
        for family in plan.families:
            unsafe = [answer for answer in forms[pair.key, family.name] if not answer.safe]
            if unsafe:
                simplest = min(unsafe, key=lambda answer: Variant(family.name, answer.changes).simplicity)
                searches.append(_Search(pair, family, simplest))
    spent = 0
    for round_number in range(1, MAX_ROUNDS + 1):
        asked: list[tuple[_Search, list[Variant]]] = []
        requests: list[tuple[Pair, FormPrompt]] = []
        for search in searches:
            if search.done:
                continue
            candidates = neighbours(search.family, Variant(search.family.name, search.current.changes))
            if not candidates:
                search.done = True
                continue
            needed = 2 * len(candidates)
            if spent + needed > plan.settings.budget:
                search.exhausted = search.done = True
                continue
            spent += needed
            search.rounds += 1
            search.prompts += needed
            asked.append((search, candidates))
            for candidate in candidates:
                requests += [
                    (search.pair, p) for p in prompts_of_variant(search.family, search.pair, candidate, generation)
                ]
        if not asked:
            break
        ask(round_number, requests)
        for search, candidates in asked:
            answered = [
                answer_variant(search.family, search.pair, candidate, generation, stored) for candidate in candidates
            ]
            still = next((answer for answer in answered if not answer.safe), None)
            if still is None:
                search.done = True
            else:
                search.current = still
    for search in searches:
        if not search.done:  # stopped by the bound on rounds: it may not be the simplest either
            search.exhausted = True
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
    paper_safe: Callable[[Pair], bool],
    ask: Callable[[int, list[tuple[Pair, FormPrompt]]], None],
) -> dict[str, tuple[FormResult, ...]]:
    """Every pair's forms: the drawn variants as answered, shrunk flips included."""
    forms = {
        (pair.key, family.name): [
            answer_variant(family, pair, variant, generation, stored) for variant in plan.drawn[pair.key, family.name]
        ]
        for pair in pairs
        for family in plan.families
    }
    flips = shrink(pairs, plan, forms, paper_safe, generation, stored, ask)
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
