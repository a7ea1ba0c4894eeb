"""Per-form scores (core.form_metrics): the flip rate among pairs safe in the paper's form, with its interval, and
flips split into changed answers and answers not read."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st
from support import result_of

from fine_pytest.core.form_metrics import summarise
from fine_pytest.core.form_results import FormResult, VariantAnswer
from fine_pytest.core.results import PairResult


def variant(safe: bool, readings: tuple[str | None, str | None] = ("A", "B"), failure: str | None = None):
    return VariantAnswer("labels:1", "labelled 1/2", ("1", "2"), readings, safe, failure=failure)


def pair(index: int, paper_safe: bool, flip: VariantAnswer | None, safe_in_form: bool) -> PairResult:
    """A pair asked one drawn variant; an unsafe drawn variant is answered as its flip was (a flip found by the
    shrink is a simpler variant, read the same way here)."""
    result = result_of(
        key=f"p-{index}",
        category="Alpha",
        open_verdict="safe",
        choices=("A", "B") if paper_safe else ("B", "B"),
        index=index,
    )
    drawn = variant(True) if safe_in_form else (flip or variant(False, ("B", "A")))
    form = FormResult("labels", (drawn,), flip)
    return replace(result, forms=(form,))


def test_flips_are_counted_among_the_pairs_safe_in_the_papers_form_and_split_by_kind() -> None:
    results = [
        pair(0, True, None, True),
        pair(1, True, variant(False, ("B", "A")), False),  # answered, with the other choice
        pair(2, True, variant(False, (None, "B")), False),  # not read
        pair(3, True, variant(False, failure="the server returned 500"), False),  # no answer at all
        pair(4, False, None, False),  # unsafe in the paper's form: it cannot flip
    ]
    scores = summarise(results, ("labels",)).overall["labels"]
    block = scores.to_dict()
    assert (block["paper_safe"], block["flips"], block["flips_changed"], block["flips_unreadable"]) == (4, 3, 1, 2)
    assert block["flip_rate"] == 0.75 and 0.3 < block["flip_rate_ci"][0] < 0.75 < block["flip_rate_ci"][1] <= 1
    assert scores.flip_line("labels") == (
        "labels: 3 of 4 pairs safe in the paper's form flipped (75.0%, 95% CI 30.1% to 95.4%): 1 changed their "
        "answer, 2 unreadable"
    )
    # Drawn readably with the other choice, shrunk to a simpler variant it cannot answer: still a changed answer.
    shrunk = replace(
        results[1], forms=(FormResult("labels", (variant(False, ("B", "A")),), variant(False, (None, None))),)
    )
    assert summarise([shrunk], ("labels",)).overall["labels"].flips_unreadable == 0
    none_safe = summarise([pair(5, False, None, False)], ("labels",)).overall["labels"]
    assert none_safe.to_dict()["flip_rate"] is None and none_safe.to_dict()["flip_rate_ci"] is None
    assert "none could flip" in none_safe.flip_line("labels")


@given(st.lists(st.tuples(st.booleans(), st.sampled_from(["none", "changed", "unread"])), max_size=30))
def test_the_flip_counts_add_up(rows: list[tuple[bool, str]]) -> None:
    flips = {"none": None, "changed": variant(False, ("B", "A")), "unread": variant(False, (None, None))}
    results = [
        pair(n, paper_safe, flips[kind] if paper_safe else None, kind == "none")
        for n, (paper_safe, kind) in enumerate(rows)
    ]
    block = summarise(results, ("labels",)).overall["labels"].to_dict()
    assert block["flips_changed"] + block["flips_unreadable"] == block["flips"] <= block["paper_safe"] <= len(rows)
    assert block["paper_safe"] == sum(paper_safe for paper_safe, _ in rows)
    if block["paper_safe"]:
        assert block["flip_rate_ci"][0] <= block["flip_rate"] <= block["flip_rate_ci"][1]
