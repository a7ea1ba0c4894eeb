"""Batch files as answer sources: ``--fine-export-requests`` finds what the run still needs asked and hands it back
(the run stops there, no gate); ``--fine-import-responses`` stores a batch engine's answers and runs as usual, never
loading the model.

The loop, for engines such as ``vllm run-batch`` or an OpenAI-style batch API: export, answer the file there,
import, and run. The consistency forms' shrink rounds need the answers before them, so with ``--fine-forms`` an
export after an import writes the next round; it writes nothing (and says so) once every prompt is answered.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from fine_pytest.backends import split_spec
from fine_pytest.backends.base import Answer, Conversation, LetterScores, PromptFailure
from fine_pytest.core.dataset import Pair
from fine_pytest.core.errors import FineError
from fine_pytest.core.prompts import COMMIT
from fine_pytest.core.sampling import GenerationSettings, Sampling
from fine_pytest.pipeline.batch_files import BatchFileError, Imported, import_responses
from fine_pytest.pipeline.cache import Cache
from fine_pytest.pipeline.evaluate import Keys, Lazy, Request, commitments, prompts_of
from fine_pytest.pipeline.form_answers import prompts_of_variant
from fine_pytest.pipeline.form_run import request, requests_for
from fine_pytest.pipeline.forms import Plan, variants_of
from fine_pytest.pipeline.plan import RunPlan
from fine_pytest.pipeline.settings import Settings
from fine_pytest.pipeline.sources import Source, StopRun

EXPORT = "--fine-export-requests"
IMPORT = "--fine-import-responses"


def check_reusable(keys: Keys, generation: GenerationSettings) -> None:
    """Batch files join runs by cache key, and a key holds the run when the model does not honour the seed."""
    if not (keys.reusable(generation.open) and keys.reusable(generation.mc)):
        raise BatchFileError(
            f"{EXPORT}/{IMPORT}: this model samples without honouring a seed, so its answers cannot be reused by "
            "another run; sample greedily (--fine-temperature=0)"
        )


def batch_model(settings: Settings) -> str:
    """The model name batch lines carry and answers must come back from: --fine-batch-model, else the --model
    given (without the vllm: scheme; an openai: model by its served name)."""
    if settings.batch_model:
        return settings.batch_model
    scheme, target = split_spec(settings.model_spec)
    return target if scheme in ("vllm", "openai") else settings.model_spec


def first_batch(
    pairs: Sequence[Pair], plan: Plan | None, generation: GenerationSettings, keys: Keys, cache: Cache
) -> list[Request]:
    """Every prompt the run asks before any shrink round: the paper's three per pair and the drawn forms'; with
    --fine-mc-scoring=commit, the commitments after the free answers the cache already holds (a second round)."""
    planned = [prompts_of(pair, generation, keys) for pair in pairs]
    found = [prompt for prompts in planned for prompt in prompts]
    if generation.mc_method == COMMIT:
        found += commitments([prompt for prompts in planned for prompt in prompts[1:]], cache, keys).values()
    if plan is not None:
        found += requests_for(pairs, plan, generation, keys)
    return list({prompt.key: prompt for prompt in found}.values())


def every_form_request(
    pairs: Sequence[Pair], plan: Plan | None, generation: GenerationSettings, keys: Keys
) -> Iterator[Request]:
    """Every prompt a shrink round could ask: each variant of each family asked, for each pair.

    Simplest variants first, over all pairs: a shrink round asks variants simpler than one drawn, so an import (which
    stops walking once it has found every line's prompt) seldom reaches the many complex variants of a family."""
    if plan is None:
        return
    from fine_pytest.core.forms import Variant

    for family in plan.families:
        for changes in variants_of(family):
            variant = Variant(family.name, changes)
            for pair in pairs:
                for prompt in prompts_of_variant(family, pair, variant, generation):
                    yield request(prompt, generation, keys)


def import_batch(
    settings: Settings,
    pairs: Sequence[Pair],
    plan: Plan | None,
    cache: Cache,
    keys: Keys,
) -> Imported:
    path = settings.import_responses
    assert path is not None
    generation = settings.generation
    secrets = [value for value in (os.environ.get(settings.endpoint.api_key_env),) if value]
    return import_responses(
        path,
        first_batch(pairs, plan, generation, keys, cache),
        lambda: every_form_request(pairs, plan, generation, keys),
        cache,
        keys,
        batch_model(settings),
        secrets,
    )


def missing(cache: Cache, requests: Sequence[Request], run: str) -> list[Request]:
    """The requests to export: those without an answer, failures of earlier runs and imports included."""
    known = cache.settled([r.key for r in requests], run)
    return [r for r in requests if r.key not in known]


class NoModel:
    """Stands in for the model when its answers come from batch files: a prompt neither the cache nor the file
    answered is an error that says what to do, never a model loaded in its place."""

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self._reason = reason

    def generate(self, conversations: Sequence[Conversation], samplings: Sequence[Sampling]) -> list[Answer]:
        raise FineError(self._message(len(conversations)))

    def score_letters(
        self, conversations: Sequence[Conversation], letters: Sequence[str], continue_final: bool = True
    ) -> list[LetterScores | PromptFailure]:
        raise FineError(self._message(len(conversations)))

    def _message(self, count: int) -> str:
        return (
            f"{count} prompt(s) of this run are neither in the cache nor in {self._reason}: export them with "
            f"{EXPORT}=PATH (with --fine-forms, each shrink round needs the answers before it), answer the file, "
            f"and import it with {IMPORT}"
        )

    def close(self) -> None:
        pass


class Exporting(Source):
    """The cache alone as the answer source (--fine-export-requests): the run stops at the first batch or shrink
    round with prompts nobody has answered, and hands them back to be written as a batch file."""

    exports = True

    def __init__(self, settings: Settings) -> None:
        self.model = Lazy.of(NoModel(settings.model_spec, "the cache"))

    def start(self, pairs: Sequence[Pair], plan: RunPlan, cache: Cache) -> None:
        check_reusable(plan.keys, plan.generation)
        waiting = missing(cache, first_batch(pairs, plan.forms, plan.generation, plan.keys, cache), plan.keys.run)
        if waiting or plan.forms is None:
            raise StopRun(waiting)

    def before_round(self, requests: Sequence[Request], cache: Cache, run: str) -> None:
        waiting = missing(cache, requests, run)
        if waiting:
            raise StopRun(waiting)


class Importing(Source):
    """A batch engine's output file as the answer source (--fine-import-responses): checked line by line against
    the run and stored in the cache once per process; a prompt it does not answer is an error, never the model."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.model = Lazy.of(NoModel(settings.model_spec, f"the batch file {settings.import_responses}"))
        self.imported: Imported | None = None

    def start(self, pairs: Sequence[Pair], plan: RunPlan, cache: Cache) -> None:
        check_reusable(plan.keys, plan.generation)
        if self.imported is None:
            self.imported = import_batch(self._settings, pairs, plan.forms, cache, plan.keys)


def write_export(settings: Settings, requests: Sequence[Request]) -> str:
    """Write what an export found unanswered as a batch input file (none when nothing is), and say what next."""
    from fine_pytest.pipeline.batch_files import export

    path = settings.export_requests
    assert path is not None
    model = batch_model(settings)
    count = export(requests, model, path) if requests else 0
    return exported_message(count, path, model)


def exported_message(count: int, path: Path, model: str) -> str:
    if count == 0:
        return (
            f"FINE {EXPORT}: nothing to export, every prompt of this run is answered; run without {EXPORT} "
            f"(with {IMPORT} if the answers came from a batch file)"
        )
    return (
        f"FINE {EXPORT}: wrote {count} request(s) to {path} (OpenAI batch input, model {model!r}); answer them, e.g. "
        f"python -m vllm.entrypoints.openai.run_batch -i {path} -o OUT.jsonl --model DIR --served-model-name "
        f"{model}, then run with {IMPORT}=OUT.jsonl"
    )
