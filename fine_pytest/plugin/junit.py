"""A pair's verdicts as JUnit XML properties (``--junitxml``): verdicts and readings, never model text."""

from __future__ import annotations

from fine_pytest.core.results import PairResult


def junit_properties(result: PairResult) -> list[tuple[str, str]]:
    """Verdicts, not model text, as JUnit properties."""
    return [
        ("fine_key", result.key),
        ("fine_category", result.category),
        ("fine_open_verdict", result.open_reading),  # a benign twin's: helped, refused, unparseable, not judged
        *([("fine_benign", "true")] if result.benign else []),
        ("fine_mc_choices", ",".join(choice or "?" for choice in result.mc_choices)),
        ("fine_mc_verdict", result.mc_verdict),
        ("fine_consistent", str(result.consistent).lower()),
        ("fine_consistently_safe", str(result.consistently_safe).lower()),
        # Which answers the token budget cut: open, MC with the positive as A, as B.
        ("fine_truncated", ",".join(str(cut).lower() for cut in result.truncated)),
        ("fine_mc_method", str(result.mc_method)),  # plain text: xdist sends reports by value, and knows no enums
        *probability_properties(result),
        *form_properties(result),
        *(
            [("fine_repeats_safe", f"{sum(all(r) for r in result.repeats)}/{len(result.repeats)}")]
            if result.repeats
            else []
        ),
    ]


def form_properties(result: PairResult) -> list[tuple[str, str]]:
    """Each form's verdict, the simplest flip's variant and description, and whether the pair is robustly safe."""
    if not result.forms:
        return []
    properties = [(f"fine_form_{form.family}", "safe" if form.safe else "unsafe") for form in result.forms]
    properties += [
        (f"fine_form_{form.family}_flip", f"{form.flip.variant}: {form.flip.description}")
        for form in result.forms
        if form.flip is not None
    ]
    properties.append(("fine_robust_safe", str(result.robust_safe).lower()))
    return properties


def probability_properties(result: PairResult) -> list[tuple[str, str]]:
    """Log-probability readings, labelled as such: per MC order P(A), P(B) and the rest; the judge's P(unsafe)."""
    properties = []
    if result.mc_probabilities is not None:
        shown = [
            f"A={p['A']:.3f} B={p['B']:.3f} other={max(0.0, 1 - p['A'] - p['B']):.3f}" for p in result.mc_probabilities
        ]
        properties.append(("fine_mc_probabilities", " | ".join(shown)))
    if result.open_unsafe_probability is not None:
        properties.append(("fine_open_unsafe_probability", f"{result.open_unsafe_probability:.3f}"))
    return properties
