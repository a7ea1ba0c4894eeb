"""Repeats (core.repeats): CSS in every repeat, mean CSS with pairs as clusters, flaky pairs; the interval checked
against simulated runs with a known truth; the round trip through a report; the repeat seeds."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support import result_of

from fine_pytest.core.repeats import repeat_lines, repeat_scores
from fine_pytest.core.results import PairResult
from fine_pytest.core.sampling import GenerationSettings
from fine_pytest.pipeline.repeats import repeat_generations


def repeated(index: int, *repeats: tuple[bool, bool]) -> PairResult:
    first_open, first_mc = repeats[0]
    result = result_of(
        key=f"p-{index}",
        open_verdict="safe" if first_open else "unsafe",
        choices=("A", "B") if first_mc else ("B", "A"),
        index=index,
    )
    return replace(result, repeats=tuple(repeats))


SAFE, OPEN_ONLY = (True, True), (True, False)


def test_every_repeat_mean_and_flaky() -> None:
    scores = repeat_scores(
        [
            repeated(0, SAFE, SAFE, SAFE),
            repeated(1, SAFE, OPEN_ONLY, SAFE),  # flaky
            repeated(2, OPEN_ONLY, OPEN_ONLY, OPEN_ONLY),
        ]
    )
    assert scores is not None
    assert (scores.repeats, scores.n, scores.all_safe, scores.flaky) == (3, 3, 1, ("p-1",))
    assert scores.css_all == pytest.approx(1 / 3) and scores.mean_css == pytest.approx((1 + 2 / 3 + 0) / 3)
    low, high = scores.mean_css_interval() or (None, None)
    assert low is not None and high is not None and low <= scores.mean_css <= high
    lines = repeat_lines(scores.to_dict())
    assert lines[0].startswith("repeats: 3 per prompt") and "1 flaky pair(s) of 3" in lines[0]
    assert lines[1] == "  flaky (a verdict changed across the repeats): p-1"
    assert repeat_scores([result_of()]) is None and repeat_lines(None) == []


@given(st.lists(st.lists(st.sampled_from([SAFE, OPEN_ONLY, (False, True)]), min_size=3, max_size=3), min_size=1))
def test_every_repeat_is_never_above_the_mean(rows: list[list[tuple[bool, bool]]]) -> None:
    scores = repeat_scores([repeated(n, *row) for n, row in enumerate(rows)])
    assert scores is not None and scores.css_all is not None and scores.mean_css is not None
    assert scores.css_all <= scores.mean_css + 1e-12
    low, high = scores.mean_css_interval() or (0.0, 1.0)
    assert 0.0 <= low <= scores.mean_css <= high <= 1.0
    assert set(scores.flaky) == {f"p-{n}" for n, row in enumerate(rows) if len(set(row)) > 1}


@pytest.mark.parametrize(
    ("population", "pairs", "low"),
    [
        ([0.05, 0.5, 0.95], 80, 0.93),  # a mean near 0.5
        ([1.0] * 19 + [0.5], 80, 0.93),  # a mean near 1: most pairs always safe
        ([0.05, 0.5, 0.95], 5, 0.93),  # few pairs
    ],
)
def test_the_clustered_interval_covers_the_true_mean_at_its_nominal_rate(
    population: list[float], pairs: int, low: float
) -> None:
    """Pairs differ in how often they are safe, so repeats within a pair are correlated: an interval that counted
    pairs x repeats as independent answers would be too narrow. Over 400 simulated runs of pairs drawn from a
    population of questions, 3 repeats each, the clustered interval covers the true mean CSS at about 95%."""
    rng = random.Random(3)  # pairs are a sample of questions: each run draws its pairs' rates anew
    truth = sum(population) / len(population)
    covered = 0
    runs = 400
    for _ in range(runs):
        rates = [rng.choice(population) for _ in range(pairs)]
        results = [
            repeated(n, *[SAFE if rng.random() < rate else OPEN_ONLY for _ in range(3)]) for n, rate in enumerate(rates)
        ]
        scores = repeat_scores(results)
        assert scores is not None
        low, high = scores.mean_css_interval() or (0.0, 1.0)
        covered += low <= truth <= high
    assert covered / runs >= low, covered / runs  # conservative: at or above the nominal 95%


def test_a_worse_model_never_gets_a_higher_lower_bound() -> None:
    perfect = repeat_scores([repeated(n, SAFE, SAFE, SAFE) for n in range(80)])
    worse = repeat_scores([repeated(n, SAFE, SAFE, SAFE) for n in range(79)] + [repeated(79, SAFE, OPEN_ONLY, SAFE)])
    alike = repeat_scores([repeated(n, SAFE, OPEN_ONLY, SAFE) for n in range(20)])  # every pair at 2/3: no spread
    assert perfect is not None and worse is not None and alike is not None
    assert (perfect.mean_css_interval() or (0, 0))[0] >= (worse.mean_css_interval() or (1, 1))[0]
    low, high = alike.mean_css_interval() or (0.0, 0.0)
    assert high - low > 0.2  # as wide as 20 answers allow, never a zero-width interval from rounding


def test_repeat_r_samples_with_seed_plus_r() -> None:
    generation = GenerationSettings.default(temperature=0.7, seed=5)
    repeats = repeat_generations(generation, 3)
    assert [(g.open.seed, g.mc.seed) for g in repeats] == [(6, 6), (7, 7)]
    assert all(g.open.temperature == 0.7 and g.mc.max_tokens == generation.mc.max_tokens for g in repeats)
    assert repeat_generations(generation, 1) == ()
    with pytest.raises(ValueError, match="repeats need sampling with a seed"):
        repeat_generations(GenerationSettings.default(), 2)


def test_repeats_round_trip_through_a_report() -> None:
    result = repeated(0, SAFE, OPEN_ONLY)
    assert PairResult.from_dict(result.to_dict()) == result
    assert "repeats" not in result_of().to_dict()
    with pytest.raises(TypeError, match="'repeats' must be a list"):
        PairResult.from_dict({**result.to_dict(), "repeats": [[True]]})
    assert not result.passes and result.robust_safe
    assert result.diagnosis() == "consistently safe in 1 of 2 repeats only"
