"""core.power: what the gate could tell apart, checked against simulated runs."""

from __future__ import annotations

import random

import pytest

from fine_pytest.core.compare import Baseline, Comparison
from fine_pytest.core.correction import correct_run
from fine_pytest.core.metrics import Scores
from fine_pytest.core.modes import GateOn
from fine_pytest.core.power import fewest_lost, gate_power, raw_margin, smallest_drop
from fine_pytest.core.stats import PairedTable, mcnemar_exact
from fine_pytest.core.thresholds import Thresholds


def scores(n: int, safe: int) -> Scores:
    return Scores(n, safe, safe, safe, safe, 0, 0)


def test_the_raw_margin_is_0_84_standard_errors_at_the_minimum_and_half_a_pair() -> None:
    assert raw_margin(0.8, 100) == pytest.approx(0.8416 * 0.04 + 0.005, abs=1e-4)
    assert raw_margin(0.8, 400) == pytest.approx(0.8416 * 0.02 + 0.00125, abs=1e-4)
    assert raw_margin(1.0, 100) > 0  # a minimum of 1 still has sampling error near it


@pytest.mark.parametrize(("n", "minimum"), [(40, 0.8), (220, 0.8), (220, 0.5)])
def test_a_model_one_margin_below_the_minimum_fails_4_times_in_5(n: int, minimum: float) -> None:
    rng = random.Random(n)
    true = minimum - raw_margin(minimum, n)
    runs = 4000
    failed = sum(sum(rng.random() < true for _ in range(n)) / n < minimum for _ in range(runs))
    # Discreteness moves the rate a little either way at small n (the half-pair correction centres it).
    assert 0.75 <= failed / runs <= 0.88


def test_mcnemar_needs_at_least_this_many_lost_pairs() -> None:
    for alpha in (0.05, 0.01, 0.2):
        fewest = fewest_lost(alpha)
        assert mcnemar_exact(fewest, 0) < alpha <= mcnemar_exact(fewest - 1, 0)


@pytest.mark.parametrize(("n", "discordant_share"), [(220, 0.1), (500, 0.2), (1000, 0.05)])
def test_a_drop_of_the_smallest_size_is_found_about_4_times_in_5(n: int, discordant_share: float) -> None:
    alpha = 0.05
    drop = smallest_drop(alpha, round(discordant_share * n), n)
    rng = random.Random(n)
    # Each pair is lost, gained or unchanged; the expected lost minus gained is the drop.
    lost_rate = (discordant_share + drop) / 2
    gained_rate = (discordant_share - drop) / 2
    runs, found = 1500, 0
    for _ in range(runs):
        lost = gained = 0
        for _ in range(n):
            draw = rng.random()
            lost += draw < lost_rate
            gained += lost_rate <= draw < lost_rate + gained_rate
        found += lost > gained and mcnemar_exact(lost, gained) < alpha
    assert 0.7 <= found / runs <= 0.92


def test_the_gate_s_power_says_what_it_could_tell_apart() -> None:
    overall = scores(220, 200)
    raw = gate_power(Thresholds(min_css=0.8), overall, None, None)
    assert raw is not None and raw.margin == pytest.approx(raw_margin(0.8, 220)) and raw.drop is None
    (line,) = raw.lines()
    assert line.startswith("220 pairs: a model whose expected raw CSS is 0.025 below the minimum fails 4 times in 5")
    assert "this judge" not in line  # no measured judge error: nothing on the true scale
    assert gate_power(Thresholds(), overall, None, None) is None  # no gate, nothing to say


def test_through_a_measured_judge_the_margin_grows_on_the_true_scale() -> None:
    overall = Scores(100, 90, 45, 50, 50, 0, 0)
    confusion = {"safe": {"safe": 45, "unsafe": 5}, "unsafe": {"safe": 5, "unsafe": 45}}
    correction = correct_run(overall, {}, {"confusion": confusion})
    power = gate_power(Thresholds(min_css=0.4), overall, None, correction)
    assert power is not None and power.attenuation == pytest.approx(0.8)
    assert power.true_scale(power.margin) == pytest.approx(raw_margin(0.4, 100) / 0.8)
    assert "(through this judge, a true change of 0.058 moves the raw CSS by 0.046)" in power.lines()[0]
    corrected = gate_power(Thresholds(min_css=0.4, gate_on=GateOn.CORRECTED), overall, None, correction)
    assert corrected is not None and corrected.corrected and corrected.margin is not None
    assert corrected.margin > power.margin  # the whole interval must clear the minimum
    assert "a judge-corrected CSS about" in corrected.lines()[0]


def test_the_drop_test_s_power_uses_the_compared_pairs() -> None:
    overall = scores(220, 200)
    table = PairedTable(180, 10, 12, 18)
    comparison = Comparison(Baseline("b.json", "m", None, None, ()), table, table, {}, (), (), (), ())
    power = gate_power(Thresholds(drop_alpha=0.05), overall, comparison, None)
    assert power is not None and power.margin is None and power.compared == 220
    assert power.drop == pytest.approx(smallest_drop(0.05, 22, 220))
    assert power.lines()[0].startswith("against the baseline (220 pairs compared): a drop of 0.060 in the raw CSS")


def test_a_corrected_minimum_the_interval_cannot_clear_says_so() -> None:
    overall = Scores(40, 36, 30, 32, 33, 0, 0)
    confusion = {"safe": {"safe": 16, "unsafe": 4}, "unsafe": {"safe": 4, "unsafe": 16}}
    correction = correct_run(overall, {}, {"confusion": confusion})
    power = gate_power(Thresholds(min_css=0.9, gate_on=GateOn.CORRECTED), overall, None, correction)
    assert power is not None and power.margin is not None and power.minimum == 0.9 and 0.9 + power.margin > 1
    assert power.lines()[0].startswith("40 pairs: the judge-corrected interval is too wide for any CSS to clear")
