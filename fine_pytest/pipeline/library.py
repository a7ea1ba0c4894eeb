"""The library entry point: a FINE run without pytest, as the plugin runs it.

    import fine_pytest

    outcome = fine_pytest.evaluate("py:mypackage.chat:answer", threshold=0.8)
    print(outcome.overall.css, outcome.gate.passed)

The same pipeline (pipeline.run), conclusion (core.conclude) and reports as the pytest plugin: with the same
settings, a run gives the same results, scores and gate, and reads and fills the same response cache. It runs in
one process (no partitions, no xdist). ``fine-pytest run`` is this function behind the plugin's options.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fine_pytest.backends.base import ModelContext
from fine_pytest.core.compare import Baseline
from fine_pytest.core.conclude import Outcome, conclude
from fine_pytest.core.dataset import DatasetError, Pair, bundled_dataset, load_datasets
from fine_pytest.core.errors import FineError
from fine_pytest.core.modes import GateOn, Scoring
from fine_pytest.core.thresholds import Thresholds
from fine_pytest.pipeline.cache import FILENAME, CacheError
from fine_pytest.pipeline.checks import (
    check_begun_replies,
    check_categories,
    check_monitored,
    check_over_refusal,
    check_repeats,
    check_specs,
)
from fine_pytest.pipeline.coordination import default_cache_dir, finish_run, new_run
from fine_pytest.pipeline.evaluate import no_verdict_reason
from fine_pytest.pipeline.progress import SILENT, Progress, closing
from fine_pytest.pipeline.run import load_judge, open_cache, plan_of, run, run_identity, run_keys
from fine_pytest.pipeline.settings import Settings, model_labels, model_settings
from fine_pytest.pipeline.sources import LiveModel, load_noted


class RunFailed(FineError):
    """The evaluation as a whole failed (the model or the judge raised): the message says why; nothing is scored."""


DEFAULT_CACHE = default_cache_dir(Path("."), ".pytest_cache")  # where the plugin keeps it, from the project's root


def evaluate(
    model: str | None = None,
    *,
    threshold: float | None = None,
    min_cs: float | None = None,
    min_css: float | None = None,
    gate_on: str = GateOn.RAW,
    settings: Settings | None = None,
    cache_dir: str | Path | None = DEFAULT_CACHE,
    progress: Progress = SILENT,
    baseline: Baseline | None = None,
    **fields: Any,
) -> Outcome:
    """Evaluate ``model`` (a spec, as ``--model`` takes; the embedded default when None) on the bundled benchmark
    or ``datasets=[...]``, judge its open answers, score CS and CSS overall and per category, and apply the gate.

    ``gate_on="corrected"`` applies the minimums to the scores corrected for the judge's measured error.
    ``fields`` are ``pipeline.settings.Settings`` fields (``judge``, a spec or a list of them for an ensemble with
    ``judge_rule``; ``datasets``, ``generation``, ``forms``,
    ``chunk_size``, ``engine_args``, ``endpoint``, ...); or pass ``settings`` whole. ``cache_dir=None`` keeps
    nothing. A setting that cannot work raises ``FineError`` before any work; a whole run that fails raises
    ``RunFailed`` (a ``FineError``); pairs the model failed on alone have no verdict, are counted in
    ``outcome.run["no_verdict"]`` and fail an enforced gate.
    """
    if settings is None:
        datasets = fields.get("datasets", ())
        # One path, or several: a string is a path, never a list of one-letter paths.
        datasets = (datasets,) if isinstance(datasets, (str, os.PathLike)) else datasets
        fields["datasets"] = tuple(Path(path) for path in datasets)
        for name, value in (("threshold", threshold), ("min_cs", min_cs), ("min_css", min_css)):
            if value is not None and not 0.0 <= value <= 1.0:
                raise FineError(f"{name}: must be between 0 and 1, got {value!r}")
        try:
            thresholds = Thresholds.chosen(threshold, min_cs, min_css, gate_on=gate_on)
        except ValueError as error:
            raise FineError(f"gate_on: expected one of {', '.join(GateOn)}, got {gate_on!r}") from error
        if isinstance(fields.get("judge"), (list, tuple)):
            fields.update(judge_fields(fields.pop("judge"), fields.pop("judge_format", None), fields))
        settings = Settings(model=model, thresholds=thresholds, no_cache=cache_dir is None, **fields)
    return evaluate_settings(settings, Path(cache_dir) if cache_dir is not None else None, progress, baseline)


def evaluate_models(
    settings: Settings, cache_dir: Path | None, progress: Progress = SILENT, baseline: Baseline | None = None
) -> list[tuple[str, Outcome]]:
    """Each of ``settings.models`` evaluated in turn, as ``evaluate_settings`` evaluates one (each run releases its
    engine before the next model loads), with its label; every model is checked before any is run. Compare them
    with ``core.model_comparison.compare_models``."""
    if len(settings.models) < 2:
        raise FineError(f"evaluate_models needs two models or more in settings.models, got {list(settings.models)}")
    from fine_pytest.pipeline.form_families import resolve_families

    context = ModelContext(engine_args=settings.engine_args, endpoint=settings.endpoint)
    check_specs(settings, context, run_user_code=True, probe=True)
    check_begun_replies(settings, resolve_families(settings.forms.families, []))
    labels = model_labels(settings.models)
    return [
        (label, evaluate_settings(model_settings(settings, index), cache_dir, progress, baseline))
        for index, label in enumerate(labels)
    ]


def judge_fields(specs: Sequence[str], formats: Any, fields: dict[str, Any]) -> dict[str, Any]:
    """``judge=[...]``: an ensemble, with ``judge_format`` one format or one per judge and ``judge_rule``, as the
    plugin's repeated --fine-judge reads them."""
    from fine_pytest.core.ensemble import Rule, label
    from fine_pytest.judges.ensemble import members_of

    formats = [formats] if isinstance(formats, str) else list(formats or [])
    if not specs or not all(isinstance(spec, str) for spec in specs):
        raise FineError(f"judge: expected a judge spec or a list of them, got {specs!r}")
    if not all(isinstance(format, str) for format in formats):
        raise FineError(f"judge_format: expected a format or a list of them, got {formats!r}")
    members = members_of(list(specs), formats)
    if len(members) == 1:
        return {"judge": members[0].spec, "judge_format": members[0].format}
    rule = fields.pop("judge_rule", Rule.MAJORITY)
    return {"judge": label(members, rule), "judge_members": members, "judge_rule": rule}


def evaluate_settings(
    settings: Settings, cache_dir: Path | None, progress: Progress = SILENT, baseline: Baseline | None = None
) -> Outcome:
    """``evaluate`` for settings read elsewhere (``fine-pytest run`` reads the plugin's options into them)."""
    if settings.models:
        raise FineError("evaluate_settings runs one model: evaluate several with evaluate_models")
    from fine_pytest.judges.trust import judge_agreement, load_calibration
    from fine_pytest.pipeline.form_families import resolve_families

    try:
        pairs = load_datasets(settings.datasets or (bundled_dataset(),))
    except DatasetError as error:
        raise FineError(error.render()) from None
    check_categories(settings.thresholds, pairs)
    check_repeats(settings)
    check_over_refusal(settings, pairs)
    check_monitored(settings)
    context = ModelContext(engine_args=settings.engine_args, endpoint=settings.endpoint)
    check_specs(settings, context, run_user_code=True, probe=True)
    if settings.judge_calibration is not None:
        load_calibration(
            settings.judge_calibration, settings.judge, settings.judge_format, settings.judge_scoring
        )  # a bad file is an error before any work
    families = resolve_families(settings.forms.families, pairs[:1], settings.generation.mc_method == Scoring.LOGPROB)
    check_begun_replies(settings, families)
    info = new_run(None if settings.no_cache or cache_dir is None else cache_dir.resolve(), settings.devices)
    try:
        with open_cache(info) as cache, closing(progress):
            keys = run_keys(settings, context, cache, info.run)
            plan = plan_of(settings, keys, info, pairs, families)

            def load(partition: int) -> Any:
                return load_noted(settings, context, cache, info.run, partition, progress, "library")

            outcome = run(pairs, plan, cache, LiveModel(load), load_judge(settings, context), progress)
            loads = len(cache.events(info.run, "load"))
            identity = run_identity(pairs, keys, settings.generation, settings.forms, settings.repeats)
    except CacheError as error:
        raise FineError(str(error)) from None
    finally:
        finish_run(info)
    if outcome.failure is not None:
        raise RunFailed(outcome.failure)
    facts: dict[str, Any] = {
        "cache": str(Path(info.cache_dir, FILENAME)) if info.persistent else None,
        "model_loads": loads,
        **(outcome.stats or {}),
    }
    no_verdict = _no_verdict(pairs, outcome.failures)
    if no_verdict:
        facts["no_verdict"] = no_verdict
    facts["identity"] = identity
    return conclude(
        settings.described(),
        tuple(str(path) for path in settings.datasets) or (str(bundled_dataset()),),
        outcome.results,
        expected=len({pair.key for pair in pairs}),
        interrupted=False,
        baseline=baseline,
        run=facts,
        judge_trust=judge_agreement(
            settings.judge, settings.judge_calibration, None, settings.judge_format, settings.judge_scoring
        ),
    )


def _no_verdict(pairs: Sequence[Pair], failures: dict[str, str]) -> dict[str, int]:
    """Pairs without a verdict counted by reason, the commonest first, as the plugin's summary counts them."""
    reasons = Counter(
        no_verdict_reason(pair.key, failures[pair.key])
        for pair in {pair.key: pair for pair in pairs}.values()
        if pair.key in failures
    )
    return dict(reasons.most_common())
