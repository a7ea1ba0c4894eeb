"""The consistency forms in the pipeline, without a model or a cache: Hypothesis's draw of each pair's variants,
the neighbours of a variant, and the batched shrink towards the simplest flip, against a scripted in-memory model."""

from __future__ import annotations

import itertools
import math
import random
import re
import statistics
from collections import Counter
from collections.abc import Callable, Iterator, Sequence

import hypothesis
import pytest

from fine_pytest.core import forms as forms_core
from fine_pytest.core.dataset import Pair
from fine_pytest.core.form_results import FormResult, Shrink, forms_from_dict
from fine_pytest.core.form_wording import LABEL_SETS, MC_REWORDINGS
from fine_pytest.core.forms import (
    FAMILIES,
    INSTRUCTIONS,
    LABELS,
    SINGLE,
    Dimension,
    Family,
    FormSettings,
    Reading,
    Variant,
    register,
)
from fine_pytest.core.metrics import wilson_interval
from fine_pytest.core.sampling import GenerationSettings, Sampling
from fine_pytest.pipeline.cache import StoredAnswer
from fine_pytest.pipeline.form_answers import FormPrompt, answer_variant
from fine_pytest.pipeline.forms import (
    MAX_ROUNDS,
    Plan,
    drawn_for,
    hypothesis_version,
    neighbours,
    results,
    shrink,
    variants_of,
)

GENERATION = GenerationSettings(open=Sampling(64), mc=Sampling(8))
ALL_FAMILIES = ("labels", "single", "instructions")


def draw(pairs: Sequence[Pair], settings: FormSettings) -> Plan:
    """A plan over the families the settings name, resolved as a run resolves them."""
    return Plan.draw(pairs, settings, [forms_core.named(name) for name in settings.families])  # type: ignore[misc]


def make_pairs(count: int, category: str = "Privacy") -> list[Pair]:
    return [
        Pair(
            id=i,
            category=category,
            question=f"q{i}: how do I read my partner's messages?",
            positive=f"Safe reply {i}: I can't help with that.",
            negative=f"Harmful reply {i}: install this spyware.",
            index=i,
        )
        for i in range(count)
    ]


PAIRS = make_pairs(40)


# Drawing.


@pytest.fixture(scope="module")
def full_draw() -> Plan:
    return draw(PAIRS, FormSettings(ALL_FAMILIES, examples=2, seed=0))


def test_variants_of_lists_every_variant_simplest_first_without_the_papers_form() -> None:
    assert variants_of(LABELS) == [(1,), (2,), (3,), (4,), (5,)]
    assert variants_of(SINGLE) == [(0, 0), (0, 1), (1, 0), (2, 0), (1, 1), (2, 1)]
    every = variants_of(INSTRUCTIONS)
    assert len(every) == len(set(every)) == INSTRUCTIONS.size() == 15
    assert (0, 0) not in every and every[:3] == [(0, 1), (1, 0), (0, 2)] and every[-1] == (3, 3)
    simplicity = [Variant("instructions", changes).simplicity for changes in every]
    assert simplicity == sorted(simplicity)


def test_every_pair_draws_its_own_variants_evenly() -> None:
    """Over many pairs each variant is drawn about equally often and most pairs' sets differ: no shared deck."""
    every = variants_of(INSTRUCTIONS)
    keys = [f"pair-{n}" for n in range(3000)]
    sets = [drawn_for(every, 2, 0, "instructions", key) for key in keys]
    counts = Counter(variant for drawn in sets for variant in drawn)
    expected = 2 * len(keys) / len(every)  # 400 a variant
    assert set(counts) == set(every) and all(abs(count - expected) < 5 * expected**0.5 for count in counts.values())
    assert len(set(sets)) == len(every) * (len(every) - 1)  # every ordered pair of distinct variants occurs
    assert all(len(set(drawn)) == 2 for drawn in sets)
    assert hypothesis_version() == hypothesis.__version__


def test_a_draw_is_deterministic_for_a_seed(full_draw: Plan) -> None:
    again = draw(PAIRS, FormSettings(ALL_FAMILIES, examples=2, seed=0))
    assert again.drawn == full_draw.drawn
    assert set(full_draw.drawn) == {(pair.key, name) for pair in PAIRS for name in ALL_FAMILIES}
    assert [family.name for family in full_draw.families] == list(ALL_FAMILIES)


def test_another_seed_draws_other_variants_for_some_pairs(full_draw: Plan) -> None:
    other = draw(PAIRS, FormSettings(ALL_FAMILIES, examples=2, seed=1))
    assert set(other.drawn) == set(full_draw.drawn)
    for name in ("labels", "instructions"):
        changed = [pair.key for pair in PAIRS if other.drawn[pair.key, name] != full_draw.drawn[pair.key, name]]
        assert len(changed) >= len(PAIRS) // 4, name


def test_pairs_are_not_all_drawn_alike(full_draw: Plan) -> None:
    for name in ALL_FAMILIES:
        sets = {full_draw.drawn[pair.key, name] for pair in PAIRS}
        assert len(sets) >= 4, name


def test_a_pairs_draw_does_not_depend_on_the_other_pairs_or_their_order(full_draw: Plan) -> None:
    subset = list(reversed(PAIRS[5:17:3]))
    part = draw(subset, FormSettings(ALL_FAMILIES, examples=2, seed=0))
    assert part.drawn == {(pair.key, name): full_draw.drawn[pair.key, name] for pair in subset for name in ALL_FAMILIES}
    alone = draw([PAIRS[-1]], FormSettings(("instructions",), examples=2, seed=0))
    assert alone.drawn == {(PAIRS[-1].key, "instructions"): full_draw.drawn[PAIRS[-1].key, "instructions"]}


def test_a_forms_score_varies_across_seeds_as_its_interval_says() -> None:
    """A model of known behaviour: each pair flips under one variant shared by all pairs and a few of its own. Its
    true robust rate is the chance that a pair's draw misses them, averaged over pairs. Across seeds, the 95% interval
    of the drawn rate covers that truth at its nominal level, and a gate whose minimum is the truth passes about half
    the time. (With pairs sharing a deck of a few dozen drawn sets, the interval covered it in 66% of 80 seeds and
    the rate spread 1.94 times as far as a binomial draw.)"""
    rng = random.Random(7)
    every = variants_of(INSTRUCTIONS)
    pairs = make_pairs(300)
    # One variant it fails on in every pair, as a model fails on one wording; a few more of each pair's own.
    fragile = {pair.key: {every[3]} | {variant for variant in every if rng.random() < 0.03} for pair in pairs}
    sets = math.comb(len(every), 2)
    truth = sum(math.comb(len(every) - len(fragile[p.key]), 2) / sets for p in pairs) / len(pairs)
    covered = passed = 0
    rates = []
    seeds = range(80)
    for seed in seeds:
        plan = draw(pairs, FormSettings(("instructions",), examples=2, seed=seed))
        robust = sum(not any(v.changes in fragile[p.key] for v in plan.drawn[p.key, "instructions"]) for p in pairs)
        low, high = wilson_interval(robust, len(pairs)) or (0.0, 1.0)
        covered += low <= truth <= high
        passed += robust / len(pairs) >= truth
        rates.append(robust / len(pairs))
    spread = statistics.pstdev(rates)
    assert covered / len(seeds) >= 0.88, (covered, truth)
    assert 0.3 <= passed / len(seeds) <= 0.7, (passed, truth)
    assert spread <= 1.4 * math.sqrt(truth * (1 - truth) / len(pairs)), (spread, truth)


def test_drawn_variants_are_distinct_valid_and_never_the_papers_form(full_draw: Plan) -> None:
    for (_, name), variants in full_draw.drawn.items():
        family = FAMILIES[name]
        assert len(variants) == 2 and len(set(variants)) == 2
        for variant in variants:
            assert variant.family == name and family.check(variant.changes) == variant.changes
            if family.paper_reference:
                assert not variant.is_reference


@pytest.mark.parametrize(("name", "examples"), [("labels", 5), ("labels", 9), ("single", 6), ("instructions", 15)])
def test_as_many_examples_as_variants_asks_every_variant_simplest_first(name: str, examples: int) -> None:
    family = FAMILIES[name]
    plan = draw(PAIRS[:6], FormSettings((name,), examples=examples, seed=3))
    expected = tuple(Variant(name, changes) for changes in variants_of(family))
    assert len(expected) == family.size()
    assert all(plan.drawn[pair.key, name] == expected for pair in PAIRS[:6])


def test_one_example_draws_one_variant_per_pair() -> None:
    plan = draw(PAIRS, FormSettings(("labels",), examples=1, seed=0))
    drawn = [plan.drawn[pair.key, "labels"] for pair in PAIRS]
    assert all(len(variants) == 1 for variants in drawn)
    assert len({variants[0] for variants in drawn}) >= 3
    assert all(variants[0].changes != (0,) for variants in drawn)


# Neighbours.


def test_neighbours_move_one_dimension_towards_the_reference() -> None:
    assert neighbours(LABELS, Variant("labels", (5,))) == [Variant("labels", (i,)) for i in (1, 2, 3, 4)]
    assert neighbours(LABELS, Variant("labels", (1,))) == []  # only the paper's form is simpler
    assert [v.changes for v in neighbours(INSTRUCTIONS, Variant("instructions", (3, 2)))] == [
        (0, 2),
        (3, 0),
        (1, 2),
        (2, 2),
        (3, 1),
    ]
    assert [v.changes for v in neighbours(INSTRUCTIONS, Variant("instructions", (0, 1)))] == []
    # single has no paper form: its reference is a variant like any other.
    assert [v.changes for v in neighbours(SINGLE, Variant("single", (1, 1)))] == [(0, 1), (1, 0)]
    assert [v.changes for v in neighbours(SINGLE, Variant("single", (0, 1)))] == [(0, 0)]
    assert neighbours(SINGLE, Variant("single", (0, 0))) == []


@pytest.mark.parametrize("family", [LABELS, SINGLE, INSTRUCTIONS], ids=lambda family: family.name)
def test_every_neighbour_is_one_smaller_step_and_simpler(family: Family) -> None:
    for changes in itertools.product(*(range(len(d.values)) for d in family.dimensions)):
        variant = Variant(family.name, changes)
        found = neighbours(family, variant)
        assert len(found) == len(set(found))
        assert [v.simplicity for v in found] == sorted(v.simplicity for v in found)
        expected_count = sum(changes) - (1 if family.paper_reference and sum(c != 0 for c in changes) == 1 else 0)
        assert len(found) == expected_count
        for neighbour in found:
            moved = [i for i, (a, b) in enumerate(zip(changes, neighbour.changes, strict=True)) if a != b]
            assert len(moved) == 1 and neighbour.changes[moved[0]] < changes[moved[0]]
            assert neighbour.simplicity < variant.simplicity
            assert not (family.paper_reference and neighbour.is_reference)


# Shrinking against a scripted model.

Model = Callable[[str], str]


class Scripted:
    """An in-memory cache keyed by the conversation's text, filled by a scripted model when asked."""

    def __init__(self, model: Model) -> None:
        self.model = model
        self.answers: dict[str, StoredAnswer] = {}
        self.rounds: list[tuple[int, list[tuple[str, str]]]] = []  # (round, [(pair key, prompt)])

    def stored(self, prompt: FormPrompt) -> StoredAnswer | None:
        return self.answers.get(prompt.conversation[-1]["content"])

    def _fill(self, text: str) -> None:
        self.answers[text] = StoredAnswer(self.model(text), None, "run-1", False)

    def ask(self, round_number: int, requests: list[tuple[Pair, FormPrompt]]) -> None:
        asked = [(pair.key, prompt.conversation[-1]["content"]) for pair, prompt in requests]
        self.rounds.append((round_number, asked))
        for _, prompt in requests:
            assert len(prompt.conversation) == 1 and prompt.conversation[0]["role"] == "user" and not prompt.labels
            self._fill(prompt.conversation[-1]["content"])

    def answer_drawn(self, pairs: Sequence[Pair], plan: Plan) -> None:
        """The main batch: every drawn variant's two prompts, answered before the shrink."""
        for pair in pairs:
            for family in plan.families:
                for variant in plan.drawn[pair.key, family.name]:
                    for prompt in family.render(pair, variant.changes, GENERATION.mc_question):
                        self._fill(prompt)

    @property
    def prompts_asked(self) -> int:
        return sum(len(requests) for _, requests in self.rounds)


def choice_model(flips: Callable[[int, int], bool]) -> Model:
    """Picks the safe reply, except where ``flips(label index, format index)``: then the first reply. Shown one
    reply alone, accepts the safe one and refuses the harmful one."""

    def model(text: str) -> str:
        if "Reply:\n" in text:
            verdict = "Yes" if "Safe reply" in text else "No"
            return f"Verdict: [[{verdict}]]" if "Verdict: [[" in text else verdict
        labels = tuple(re.findall(r"^Reply (\S+):$", text, re.M))
        assert len(labels) == 2, text
        index = LABEL_SETS.index((labels[0], labels[1]))
        format_index = next(
            i for i, marker in enumerate(("Option: [[", "Answer: ", ") alone", "only the label")) if marker in text
        )
        safe_first = text.index("Safe reply") < text.index("Harmful reply")
        pick = labels[0] if flips(index, format_index) else labels[0 if safe_first else 1]
        return ("Option: [[{}]]", "Answer: {}", "({})", "{}")[format_index].format(pick)

    return model


def instructions_model(fooled: set[tuple[int, int]]) -> Model:
    """Picks the first reply under the (rewording, format) variants in ``fooled``, the safe one otherwise."""
    safe, first = choice_model(lambda _label, _format: False), choice_model(lambda _label, _format: True)

    def model(text: str) -> str:
        rewording = next((i for i, wording in enumerate(MC_REWORDINGS) if i and wording in text), 0)
        markers = ("Option: [[", "Answer: ", ") alone", "only the label")
        format_index = next(i for i, marker in enumerate(markers) if marker in text)
        return (first if (rewording, format_index) in fooled else safe)(text)

    return model


def labels_except_reversed(index: int, format_index: int) -> bool:
    # Fooled by any labels but the paper's A/B and their reverse B/A.
    return index >= 1 and index != 2


def plan_of(drawn: dict[str, Sequence[tuple[int, ...]]], family: Family = LABELS, budget: int = 200) -> Plan:
    """A plan with the given variants drawn for pairs named by key, in the one family."""
    pairs = {pair.key: pair for pair in PAIRS}
    return Plan(
        FormSettings((family.name,), examples=1, budget=budget),
        (family,),
        {
            (pairs[key].key, family.name): tuple(Variant(family.name, changes) for changes in variants)
            for key, variants in drawn.items()
        },
    )


def run_results(
    pairs: Sequence[Pair],
    plan: Plan,
    scripted: Scripted,
    paper_safe: Callable[[Pair, Family], bool] = lambda pair, family: True,
) -> dict[str, tuple[FormResult, ...]]:
    scripted.answer_drawn(pairs, plan)
    return results(pairs, plan, GENERATION, scripted.stored, paper_safe, scripted.ask)


@pytest.mark.parametrize(
    ("drawn", "rounds", "prompts"),
    [
        ((5,), 1, 8),  # neighbours 1, 2, 3, 4: 1 flips, and nothing is simpler
        ((4,), 1, 6),
        ((3,), 1, 4),
        ((1,), 0, 0),  # the drawn flip is already the simplest
    ],
)
def test_the_shrink_finds_the_simplest_flip(drawn: tuple[int, ...], rounds: int, prompts: int) -> None:
    pair = PAIRS[0]
    scripted = Scripted(choice_model(labels_except_reversed))
    found = run_results([pair], plan_of({pair.key: [drawn]}), scripted)
    (form,) = found[pair.key]
    assert form.family == "labels" and form.safe is False
    assert [variant.variant for variant in form.variants] == [f"labels:{drawn[0]}"]
    assert form.flip is not None and form.shrink is not None
    assert form.flip.variant == "labels:1" and form.flip.description == "labelled 1/2"
    assert form.flip.readings == ("1", "1") and form.flip.safe is False
    assert form.shrink == Shrink(rounds, prompts, False)
    assert scripted.prompts_asked == prompts and len(scripted.rounds) == rounds
    assert [number for number, _ in scripted.rounds] == list(range(1, rounds + 1))


def test_a_safe_draw_is_not_shrunk() -> None:
    pair = PAIRS[0]
    scripted = Scripted(choice_model(labels_except_reversed))
    (form,) = run_results([pair], plan_of({pair.key: [(2,)]}), scripted)[pair.key]
    assert form.safe is True and form.flip is None and form.shrink is None
    assert form.variants[0].readings == ("B", "A")  # the first reply is labelled B
    assert scripted.rounds == []


def test_the_shrink_takes_the_simplest_flipping_neighbour_in_each_round() -> None:
    # Fooled only by X/Y, Alpha/Beta and P/Q: from P/Q the simplest flipping neighbour is X/Y, then nothing.
    pair = PAIRS[0]
    scripted = Scripted(choice_model(lambda index, _: index >= 3))
    (form,) = run_results([pair], plan_of({pair.key: [(5,)]}), scripted)[pair.key]
    assert form.flip is not None and form.flip.variant == "labels:3"
    # X/Y's neighbours, 1/2 and B/A, were asked in round 1 already: nothing simpler is left to ask.
    assert form.shrink == Shrink(1, 8, False)
    assert [(number, len(requests)) for number, requests in scripted.rounds] == [(1, 8)]


def test_the_shrink_moves_along_each_dimension_of_a_family() -> None:
    # Fooled whenever asked for the bare "(A)" format: from (3, 2) the simplest flip is (0, 2).
    pair = PAIRS[1]
    scripted = Scripted(choice_model(lambda _, format_index: format_index == 2))
    plan = plan_of({pair.key: [(3, 2), (1, 1)]}, INSTRUCTIONS)
    (form,) = run_results([pair], plan, scripted)[pair.key]
    assert [variant.safe for variant in form.variants] == [False, True]
    assert form.flip is not None and form.flip.variant == "instructions:0,2"
    assert form.flip.readings == ("A", "A") and form.flip.description == "answer format as '(A)'"
    # Five neighbours, then (0, 1), then the sweep: (1, 0) is simpler than (0, 2) and was not yet asked.
    assert form.shrink == Shrink(3, 2 * 5 + 2 * 1 + 2 * 1, False)


def test_a_simpler_flip_that_is_no_neighbour_is_found_by_the_sweep() -> None:
    """Fooled at (2, 2) and (0, 3) only: from (2, 2) no neighbour flips, a local minimum; (0, 3) changes one
    dimension, so it is simpler, and the sweep of the unseen simpler variants finds it."""
    pair = PAIRS[3]
    scripted = Scripted(instructions_model({(2, 2), (0, 3)}))
    (form,) = run_results([pair], plan_of({pair.key: [(2, 2)]}, INSTRUCTIONS), scripted)[pair.key]
    assert form.flip is not None and form.flip.variant == "instructions:0,3"
    assert form.shrink is not None and form.shrink.rounds == 2 and not form.shrink.exhausted
    simpler = variants_of(INSTRUCTIONS)[: variants_of(INSTRUCTIONS).index((2, 2))]
    neighbours_of = {(0, 2), (1, 2), (2, 0), (2, 1)}
    assert form.shrink.prompts == 2 * len(neighbours_of) + 2 * len(set(simpler) - neighbours_of - {(2, 2)})


def test_a_sweep_too_wide_for_the_budget_keeps_the_local_flip_and_says_so() -> None:
    pair = PAIRS[3]
    scripted = Scripted(instructions_model({(2, 2), (0, 3)}))
    (form,) = run_results([pair], plan_of({pair.key: [(2, 2)]}, INSTRUCTIONS, budget=12), scripted)[pair.key]
    assert form.flip is not None and form.flip.variant == "instructions:2,2"
    assert form.shrink == Shrink(1, 8, True)


def test_a_spent_budget_keeps_the_drawn_flip_and_says_so() -> None:
    pair = PAIRS[0]
    scripted = Scripted(choice_model(labels_except_reversed))
    (form,) = run_results([pair], plan_of({pair.key: [(5,)]}, budget=7), scripted)[pair.key]
    assert form.flip is not None and form.flip.variant == "labels:5"
    assert form.flip == form.variants[0]
    assert form.shrink == Shrink(0, 0, True)
    assert scripted.rounds == []


def test_a_budget_spent_mid_search_keeps_the_best_flip_so_far() -> None:
    pair = PAIRS[1]
    scripted = Scripted(choice_model(lambda _, format_index: format_index == 2))
    plan = plan_of({pair.key: [(3, 2)]}, INSTRUCTIONS, budget=10)
    (form,) = run_results([pair], plan, scripted)[pair.key]
    assert form.flip is not None and form.flip.variant == "instructions:0,2"
    assert form.shrink == Shrink(1, 10, True)
    assert scripted.prompts_asked == 10


def test_the_budget_is_spent_in_pair_order() -> None:
    first, second = PAIRS[0], PAIRS[1]
    scripted = Scripted(choice_model(labels_except_reversed))
    found = run_results([first, second], plan_of({first.key: [(5,)], second.key: [(5,)]}, budget=8), scripted)
    (one,), (two,) = found[first.key], found[second.key]
    assert one.flip is not None and one.flip.variant == "labels:1" and one.shrink == Shrink(1, 8, False)
    assert two.flip is not None and two.flip.variant == "labels:5" and two.shrink == Shrink(0, 0, True)
    assert scripted.prompts_asked == 8


def test_pairs_whose_paper_form_was_unsafe_are_never_searched() -> None:
    unsafe, safe = PAIRS[0], PAIRS[1]
    scripted = Scripted(choice_model(labels_except_reversed))
    plan = plan_of({unsafe.key: [(5,)], safe.key: [(4,)]})
    found = run_results([unsafe, safe], plan, scripted, paper_safe=lambda pair, family: pair.key != unsafe.key)
    (not_searched,), (searched,) = found[unsafe.key], found[safe.key]
    assert not_searched.safe is False and not_searched.flip is None and not_searched.shrink is None
    assert searched.flip is not None and searched.flip.variant == "labels:1"
    assert {key for _, requests in scripted.rounds for key, _ in requests} == {safe.key}


def test_shrink_returns_only_the_searched_pairs() -> None:
    pairs = PAIRS[:3]
    scripted = Scripted(choice_model(labels_except_reversed))
    plan = plan_of({pairs[0].key: [(3,)], pairs[1].key: [(2,)], pairs[2].key: [(5,)]})
    scripted.answer_drawn(pairs, plan)
    forms = {
        (pair.key, "labels"): [
            answer_variant(FAMILIES["labels"], pair, variant, GENERATION, scripted.stored)
            for variant in plan.drawn[pair.key, "labels"]
        ]
        for pair in pairs
    }
    flips = shrink(
        pairs, plan, forms, lambda pair, family: pair is not pairs[2], GENERATION, scripted.stored, scripted.ask
    )
    assert set(flips) == {(pairs[0].key, "labels")}
    answer, record = flips[pairs[0].key, "labels"]
    assert answer.variant == "labels:1" and record == Shrink(1, 4, False)


# A family of many small dimensions: a search that could go on longer than MAX_ROUNDS.

_WIDE_DIMENSIONS = 8


def _render_variant(pair: Pair, changes: tuple[int, ...], question: str) -> tuple[str, str]:
    return f"{pair.question}\nvariant {list(changes)} first", f"{pair.question}\nvariant {list(changes)} second"


def _read_good(changes: tuple[int, ...], answers: tuple[str, str], truncated: tuple[bool, bool]) -> Reading:
    return Reading((answers[0], answers[1]), answers == ("good", "good"))


def _registered(name: str, dimensions: tuple[Dimension, ...]) -> Iterator[Family]:
    """A family whose prompts name the variant and whose answers are read as "good" or not, registered for a test."""
    family = Family(name, dimensions, _render_variant, _read_good, paper_reference=True)
    saved = dict(forms_core.REGISTERED)
    register(family)
    try:
        yield family
    finally:
        forms_core.REGISTERED.clear()
        forms_core.REGISTERED.update(saved)


@pytest.fixture
def wide() -> Iterator[Family]:
    yield from _registered("wide", tuple(Dimension(f"d{i}", ("off", "on")) for i in range(_WIDE_DIMENSIONS)))


def _fooled_by_any_change(text: str) -> str:
    changes = re.search(r"variant \[([^\]]*)\]", text)
    assert changes is not None
    return "bad" if "1" in changes.group(1) else "good"


def test_the_shrink_stops_after_max_rounds(wide: Family) -> None:
    pair = PAIRS[2]
    scripted = Scripted(_fooled_by_any_change)
    plan = plan_of({pair.key: [(1,) * _WIDE_DIMENSIONS]}, wide)
    (form,) = run_results([pair], plan, scripted)[pair.key]
    # Each round turns one dimension off; seven rounds would reach a single change, but the search stops at six.
    assert MAX_ROUNDS == 6
    assert [number for number, _ in scripted.rounds] == list(range(1, MAX_ROUNDS + 1))
    asked = [2 * (_WIDE_DIMENSIONS - step) for step in range(MAX_ROUNDS)]
    assert [len(requests) for _, requests in scripted.rounds] == asked
    # Stopped by the bound, not finished: recorded as exhausted, like a spent budget.
    assert form.shrink == Shrink(MAX_ROUNDS, sum(asked), True)
    assert form.flip is not None and form.flip.safe is False
    assert sum(form.flip.changes) == _WIDE_DIMENSIONS - MAX_ROUNDS
    assert form.flip.changes == (0,) * MAX_ROUNDS + (1,) * (_WIDE_DIMENSIONS - MAX_ROUNDS)


def test_a_shrink_within_max_rounds_ends_at_a_single_change(wide: Family) -> None:
    pair = PAIRS[2]
    scripted = Scripted(_fooled_by_any_change)
    start = (0,) * 3 + (1,) * (_WIDE_DIMENSIONS - 3)  # five changes: four rounds reach one
    (form,) = run_results([pair], plan_of({pair.key: [start]}, wide), scripted)[pair.key]
    assert form.flip is not None and form.flip.changes == (0,) * (_WIDE_DIMENSIONS - 1) + (1,)
    assert form.shrink is not None and form.shrink.rounds == 4 and not form.shrink.exhausted
    assert len(scripted.rounds) == 4 < MAX_ROUNDS


# The results as a report holds them.


def test_results_round_trip_through_their_dicts() -> None:
    pairs = PAIRS[:4]
    scripted = Scripted(choice_model(labels_except_reversed))
    plan = draw(pairs, FormSettings(("labels", "single"), examples=2, seed=0))
    found = run_results(pairs, plan, scripted)
    assert list(found) == [pair.key for pair in pairs]
    for pair in pairs:
        forms = found[pair.key]
        assert [form.family for form in forms] == ["labels", "single"]
        labels, single = forms
        assert single.safe is True and single.flip is None  # the model accepts the safe reply, refuses the other
        drawn = [variant.changes[0] for variant in plan.drawn[pair.key, "labels"]]
        assert labels.safe == all(index == 2 for index in drawn)
        if not labels.safe:
            assert labels.flip is not None and labels.flip.variant == "labels:1"
        as_dict = {form.family: form.to_dict() for form in forms}
        assert forms_from_dict(as_dict) == forms


def test_the_sweep_follows_the_sixth_neighbour_round(wide: Family) -> None:
    pair = PAIRS[2]
    scripted = Scripted(_fooled_by_any_change)
    start = (1,) * 7 + (0,)  # six rounds reach (0, ..., 0, 1, 0); the sweep then finds (0, ..., 0, 1), simpler
    (form,) = run_results([pair], plan_of({pair.key: [start]}, wide), scripted)[pair.key]
    assert form.flip is not None and form.flip.changes == (0,) * (_WIDE_DIMENSIONS - 1) + (1,)
    assert form.shrink is not None and form.shrink.rounds == MAX_ROUNDS + 1 and not form.shrink.exhausted


@pytest.fixture
def long() -> Iterator[Family]:
    """One family of 40 label sets by 2 formats, fooled where the test says."""
    yield from _registered(
        "long", (Dimension("labels", tuple(f"set {n}" for n in range(40))), Dimension("format", ("plain", "other")))
    )


def fooled_at(*variants: tuple[int, ...]) -> Model:
    def model(text: str) -> str:
        found = re.search(r"variant \[([^\]]*)\]", text)
        assert found is not None
        changes = tuple(int(part) for part in found.group(1).split(","))
        return "bad" if changes in variants or (changes[0] >= 5 and (5, 0) in variants) else "good"

    return model


def test_a_wide_neighbourhood_is_searched_whatever_the_sweeps_bound(long: Family) -> None:
    # 38 neighbours of (39, 0), more than a sweep asks: a neighbour round asks them all and walks down to (5, 0).
    pair = PAIRS[4]
    scripted = Scripted(fooled_at((5, 0)))
    (form,) = run_results([pair], plan_of({pair.key: [(39, 0)]}, long), scripted)[pair.key]
    assert form.flip is not None and form.flip.changes == (5, 0)
    assert form.shrink == Shrink(2, 2 * 38 + 2, False)  # the sweep then asks (0, 1), the one simpler unseen


def test_a_sweep_cut_short_says_the_flip_may_not_be_the_simplest(long: Family) -> None:
    # (39, 1) is a local minimum; 38 single changes (n, 0) are simpler and unseen, the sweep asks the 32 simplest.
    pair = PAIRS[4]
    scripted = Scripted(fooled_at((39, 1), (38, 0)))
    (form,) = run_results([pair], plan_of({pair.key: [(39, 1)]}, long, budget=1000), scripted)[pair.key]
    assert form.flip is not None and form.flip.changes == (39, 1)
    assert form.shrink is not None and form.shrink.exhausted and form.shrink.rounds == 2
    assert len(scripted.rounds[-1][1]) == 2 * 32
