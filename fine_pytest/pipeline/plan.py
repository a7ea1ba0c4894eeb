"""What a run is given and what it gives back: the frozen plan every process of the run shares, and its outcome."""

from __future__ import annotations

from dataclasses import dataclass, field

from fine_pytest.core.defaults import DEFAULT_CHUNK
from fine_pytest.core.results import PairResult
from fine_pytest.core.sampling import GenerationSettings
from fine_pytest.pipeline.coordination import RunInfo
from fine_pytest.pipeline.evaluate import Keys, Request
from fine_pytest.pipeline.forms import Plan


@dataclass(frozen=True)
class RunPlan:
    """Everything fixed before a run asks anything, the same in every process of the run."""

    generation: GenerationSettings
    keys: Keys
    info: RunInfo  # the run, its cache folder, its partitions and devices
    chunk_size: int = DEFAULT_CHUNK
    forms: Plan | None = None  # the consistency forms' drawn variants
    exclusive: bool = False  # the judge is a model too: one engine at a time
    # Where this evaluation's locks and partition events live: the run's own, or a later evaluation's in the same
    # process (a pair requested outside the collected items), whose partitions are not the run's.
    scope: RunInfo | None = None
    # --fine-repeats: the generation settings of repeats 2 .. K (pipeline.repeats); none when asked once.
    repeats: tuple[GenerationSettings, ...] = ()


@dataclass
class RunOutcome:
    """What a run gives back: results, the pairs without a verdict and why, or why the whole run failed."""

    results: list[PairResult] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)  # pair key -> why it has no verdict
    failure: str | None = None  # the whole evaluation failed: no pair has a verdict
    stats: dict[str, int] | None = None
    exported: list[Request] | None = None  # an export: the prompts left to ask elsewhere ([] when none)
