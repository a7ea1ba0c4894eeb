"""Everything a FINE run was asked to do, resolved from the command line, the ini file and the defaults.

Plain data: the pytest plugin fills it in (plugin.options.read_settings); the pipeline and the reports read it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from fine_pytest.backends.base import Endpoint
from fine_pytest.backends.embedded import DEFAULT_MODEL
from fine_pytest.core.conclude import RunDescription
from fine_pytest.core.defaults import DEFAULT_CHUNK, DEFAULT_JUDGE, DEFAULT_MC_METHOD, DEFAULT_SHOW
from fine_pytest.core.ensemble import Member, Rule, check, label
from fine_pytest.core.errors import FineError
from fine_pytest.core.forms import FormSettings
from fine_pytest.core.sampling import GenerationSettings
from fine_pytest.core.thresholds import Thresholds

MAX_LABEL = 40  # characters of a model's label (test ids, report file names)


@dataclass(frozen=True)
class Settings:
    """A run's settings; every field has the default the plugin's options have (docs/OPTIONS.md)."""

    model: str | None = None  # None: the embedded default (model_spec)
    judge: str = DEFAULT_JUDGE
    datasets: tuple[Path, ...] = ()  # none: the bundled benchmark
    thresholds: Thresholds = field(default_factory=Thresholds)
    strict: bool = False
    report: Path | None = None
    generation: GenerationSettings = field(default_factory=GenerationSettings.default)
    show: int = DEFAULT_SHOW
    engine_args: dict[str, Any] = field(default_factory=dict)
    cache_dir: Path | None = None
    no_cache: bool = False
    chunk_size: int = DEFAULT_CHUNK
    shard: tuple[int, int] | None = None
    devices: tuple[str, ...] = ()
    endpoint: Endpoint = field(default_factory=Endpoint)
    judge_format: str | None = None
    html: Path | None = None
    summary: Path | None = None  # the Markdown summary
    baseline: Path | None = None
    judge_calibration: Path | None = None
    judge_scoring: str = DEFAULT_MC_METHOD
    forms: FormSettings = field(default_factory=FormSettings)
    # Batch files (pipeline.batch): write what the run needs asked and stop, or read a batch engine's answers.
    export_requests: Path | None = None
    import_responses: Path | None = None
    batch_model: str | None = None
    # An ensemble (--fine-judge given more than once): its members and rule. Then ``judge`` is the ensemble's name
    # (core.ensemble.label) and ``judge_format`` None; with one judge, ``judge_members`` is empty.
    judge_members: tuple[Member, ...] = ()
    judge_rule: str = Rule.MAJORITY
    repeats: int = 1  # --fine-repeats: every prompt asked this many times, with seeds seed, seed + 1, ...
    # Several models under test (--model given more than once), in order: each is one run of its own (for_model),
    # with its own gate and reports, compared with the others. Empty for one model; ``model`` is then that one.
    models: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        """An ensemble given as fields (the library's ``judge_members``) is checked, and named as the plugin names
        it, so that its reports, calibration and correction are the ensemble's, never a lone judge's."""
        if not isinstance(self.judge, str):
            raise FineError(f"judge: expected one judge spec, got {self.judge!r} (an ensemble: a list of specs)")
        if not self.judge_members:
            return
        try:
            check(self.judge_members, self.judge_rule)
        except ValueError as error:
            raise FineError(f"judge_members: {error}") from None
        name = label(self.judge_members, self.judge_rule)
        if self.judge not in (DEFAULT_JUDGE, name) or self.judge_format is not None:
            raise FineError(f"judge: an ensemble's judges are its judge_members; got judge={self.judge!r} besides")
        object.__setattr__(self, "judge", name)

    @property
    def members(self) -> tuple[Member, ...]:
        """The judges that label each answer: the ensemble's members, or the one judge."""
        return self.judge_members or (Member(self.judge, self.judge_format),)

    @property
    def datasets_given(self) -> bool:
        return bool(self.datasets)

    def for_model(self, spec: str) -> Settings:
        """The settings of one model's run in a run of several."""
        return replace(self, model=spec, models=())

    @property
    def model_spec(self) -> str:
        """The model actually used: the one given, or the embedded default."""
        return self.model or DEFAULT_MODEL

    def described(self) -> RunDescription:
        """The run as its reports describe it."""
        return RunDescription(
            model=self.model_spec,
            judge=self.judge,
            generation=self.generation,
            thresholds=self.thresholds,
            judge_format=self.judge_format,
            judge_scoring=self.judge_scoring,
            forms=self.forms,
            judge_members=self.judge_members,
            judge_rule=self.judge_rule,
        )


def model_labels(specs: Sequence[str]) -> tuple[str, ...]:
    """A short name per model, for test ids and report files: a path's last part, or the spec, with anything but
    letters, digits, '.', '_' and '-' made '-'; numbered when two would be the same, ignoring case (their report files
    would be one file on a case-insensitive file system)."""
    labels: list[str] = []
    taken: set[str] = set()
    for index, spec in enumerate(specs):
        name = spec.rstrip("/\\")
        if "/" in name or "\\" in name:
            name = re.split(r"[/\\]", name)[-1]
        name = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.")[:MAX_LABEL] or "model"
        name = "comparison-model" if name.lower() == "comparison" else name  # r.comparison.json is the comparison's
        label, number = name, index + 1
        while label.lower() in taken:
            label, number = f"{name}-{number}", number + 1
        taken.add(label.lower())
        labels.append(label)
    return tuple(labels)


def beside(path: Path | None, part: str) -> Path | None:
    """``r.json`` -> ``r.<part>.json``: a model's report, or the comparison, next to the path given."""
    return None if path is None else path.with_name(f"{path.stem}.{part}{path.suffix}")


def model_settings(settings: Settings, index: int) -> Settings:
    """One model's settings: that model, and its JSON and HTML reports beside the paths given. The Markdown summary
    is one file for every model (a CI job summary reads one path): the run of several writes it."""
    label = model_labels(settings.models)[index]
    return replace(
        settings.for_model(settings.models[index]),
        report=beside(settings.report, label),
        html=beside(settings.html, label),
        summary=None,
    )
