"""The run: pairs to results, given a frozen plan, a cache, an answer source and a judge.

    pairs -> prompts the cache lacks -> answer source -> cache -> judge -> cache -> results (+ forms, shrink rounds)

Every caller takes this one path: the pytest plugin (each process of an xdist run calls it with the same plan), the
library entry point, ``fine-pytest run`` and the benchmarks. Work is split into the plan's partitions, each filled
once under the run's locks (pipeline.coordination), so several processes share one engine per device. Answers come
from an ``AnswerSource``: a live model loaded on first use, the cache alone (an export, which stops at the first
prompt nobody answered and hands back what is missing), or a batch file stored into the cache first (an import).

Longer than 300 lines: the run, its keys and its identity are read together (what keys an answer is what the
identity digests); the steps themselves live in pipeline.evaluate, forms and repeats.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

from fine_pytest import backends, judges
from fine_pytest.backends.base import Model, ModelContext
from fine_pytest.backends.user_code import user_traceback
from fine_pytest.core.dataset import Pair
from fine_pytest.core.defaults import DEFAULT_CHUNK
from fine_pytest.core.errors import FineError
from fine_pytest.core.forms import Family
from fine_pytest.core.sampling import GenerationSettings
from fine_pytest.judges.base import Judge
from fine_pytest.judges.ensemble import (
    EnsembleJudge,
    ensemble_identity,
    member_identities,
    member_scoring,
    same_judge,
)
from fine_pytest.pipeline.cache import FILENAME, Cache, CacheError
from fine_pytest.pipeline.coordination import (
    PartitionFailure,
    RunInfo,
    generation_lock,
    run_partitions,
    split,
    using_cache,
)
from fine_pytest.pipeline.evaluate import Keys, Lazy, Request, Stats, assemble, fill, generate_missing
from fine_pytest.pipeline.form_run import attach, requests_for
from fine_pytest.pipeline.forms import Plan
from fine_pytest.pipeline.plan import RunOutcome, RunPlan
from fine_pytest.pipeline.progress import SILENT, Progress
from fine_pytest.pipeline.repeats import repeat_generations, with_repeats
from fine_pytest.pipeline.settings import Settings
from fine_pytest.pipeline.sources import AnswerSource, GivenModel, Kept, StopRun

# The names callers use, in one place: the run, what it is given, and what it gives back.
__all__ = ["AnswerSource", "RunOutcome", "RunPlan", "StopRun", "load_judge", "open_cache", "plan_of", "run"]
__all__ += ["run_keys", "run_loaded"]


def run(
    pairs: Sequence[Pair],
    plan: RunPlan,
    cache: Cache,
    source: AnswerSource,
    judge: Lazy[Judge],
    progress: Progress = SILENT,
) -> RunOutcome:
    """Generate and judge what the cache lacks for ``pairs``, partition by partition under the run's locks, then read
    every result back from the cache. The model and the judge load only if something is missing, and are closed
    whatever happens. A source's ``StopRun`` ends the run with ``RunOutcome.exported``."""
    unique = list({pair.key: pair for pair in pairs}.values())
    try:
        source.start(unique, plan, cache)
        return _run(unique, plan, cache, source, judge, progress)
    except StopRun as stop:
        return RunOutcome(exported=stop.requests)
    finally:
        # Release the engine before anything else runs: tests, or a judge that needs the device.
        try:
            source.model.release()
        finally:
            judge.release()


def _run(
    pairs: list[Pair], plan: RunPlan, cache: Cache, source: AnswerSource, judge: Lazy[Judge], progress: Progress
) -> RunOutcome:
    info, keys, generation = plan.info, plan.keys, plan.generation
    scope = plan.scope or info
    model = source.model

    def guarded(partition: int, work: Callable[[Stats], None]) -> None:
        source.use(partition)
        produced = Stats(progress=progress)
        try:
            with generation_lock(info, keys.model, partition):
                work(produced)
        except CacheError:
            raise  # the cache itself failed: recording a partition failure in it would fail too
        except FineError as error:
            raise PartitionFailure(str(error)) from None
        except Exception as error:  # the user's model or judge raised: show their frames, not ours
            raise PartitionFailure("FINE evaluation failed: " + user_traceback(error)) from None
        finally:
            # What this process did, for the run's counts (every process of the run reads the same events).
            with contextlib.suppress(CacheError):
                cache.record(info.run, "produced", partition, json.dumps(produced.to_dict()))

    def fill_partition(partition: int, part: Sequence[Pair]) -> None:
        extra = requests_for(part, plan.forms, generation, keys) if plan.forms is not None else []
        guarded(
            partition,
            lambda produced: fill(
                part,
                model,
                judge,
                generation,
                cache,
                keys,
                plan.chunk_size,
                plan.exclusive,
                produced,
                extra,
                repeats=plan.repeats,
            ),
        )

    def ask(round_number: int, wanted: list[tuple[Pair, Request]]) -> None:
        """A shrink round: its prompts, split by pair into the run's partitions like the first batch."""
        source.before_round([request for _, request in wanted], cache, keys.run)
        if plan.exclusive:
            judge.release()  # an LLM judge gives the device back before the model under test loads again
        by_pair: dict[str, list[Request]] = {}
        for pair, request in wanted:
            by_pair.setdefault(pair.key, []).append(request)
        parts = split(list(by_pair), info.partition_count)

        def fill_round(partition: int, pair_keys: Sequence[str]) -> None:
            requests = [request for key in pair_keys for request in by_pair[key]]
            guarded(
                partition,
                lambda produced: generate_missing(requests, model, cache, keys, plan.chunk_size, produced),
            )

        round_scope = replace(scope, run=f"{scope.run}-shrink{round_number}")
        shrink_failed = run_partitions(round_scope, cache, parts, fill_round)
        if shrink_failed:
            raise FineError(next(iter(shrink_failed.values())))

    partitions = split(pairs, info.partition_count)
    failed = run_partitions(scope, cache, partitions, fill_partition)
    if source.exports and failed:  # the judge failed: nothing the export could say is complete
        return RunOutcome(failure=next(iter(failed.values())))
    evaluated = assemble(pairs, generation, cache, keys)
    if plan.repeats:
        evaluated = with_repeats(evaluated, [assemble(pairs, repeat, cache, keys) for repeat in plan.repeats])
    if plan.forms is not None:
        evaluated, _ = attach(evaluated, pairs, plan.forms, generation, cache, keys, ask)
    if source.exports:
        return RunOutcome(exported=[])  # every round is answered: nothing left to export
    stats = true_counts(evaluated.stats, cache.events(info.run, "produced")).to_dict()
    if failed and len(failed) == len(partitions):
        return RunOutcome(failure=next(iter(failed.values())), stats=stats)
    failures = dict(evaluated.failures)
    for partition, message in failed.items():
        failures.update((pair.key, message) for pair in partitions[partition])
    return RunOutcome(results=evaluated.results, failures=failures, stats=stats)


def run_keys(settings: Settings, context: ModelContext, cache: Cache, run: str) -> Keys:
    """The cache keys' identities: the model's (its weights' digest, or its code's) and the judge's, read once and
    remembered in the cache (``memo``) so a large model folder is not hashed again."""
    model = backends.identity(settings.model_spec, context=context, memo=cache)
    seeded = bool(model.get("seeded", True))
    if settings.judge_members:
        members = member_identities(settings.judge_members, context, cache, settings.judge_scoring)
        same_judge(settings.judge_members, members)
        judge = ensemble_identity(settings.judge_rule, members)
        refusals = all(judges.reads_refusals(member.spec, member.format) for member in settings.judge_members)
        return Keys(model=model, judge=judge, run=run, seeded=seeded, members=members, refusals=refusals)
    judge = judges.identity(settings.judge, settings.judge_format, context, cache, settings.judge_scoring)
    refusals = judges.reads_refusals(settings.judge, settings.judge_format)
    return Keys(model=model, judge=judge, run=run, seeded=seeded, refusals=refusals)


def plan_of(
    settings: Settings,
    keys: Keys,
    info: RunInfo,
    pairs: Sequence[Pair],
    families: Sequence[Family] = (),
    scope: RunInfo | None = None,
) -> RunPlan:
    """The run's plan from its settings: the forms' variants drawn for ``pairs`` over the resolved ``families``."""
    return RunPlan(
        generation=settings.generation,
        keys=keys,
        info=info,
        chunk_size=settings.chunk_size,
        forms=Plan.draw(pairs, settings.forms, families) if settings.forms else None,
        exclusive=any(judges.uses_model(member.spec, member.format) for member in settings.members),
        scope=scope,
        repeats=repeat_generations(settings.generation, settings.repeats),
    )


def load_judge(settings: Settings, context: ModelContext) -> Lazy[Judge]:
    """The run's judge, loaded on first use; an ensemble's members load one by one, when their turn comes."""
    if settings.judge_members:
        scoring = settings.judge_scoring
        loaders = [
            partial(judges.load_judge, member.spec, member.format, context, member_scoring(member, scoring))
            for member in settings.judge_members
        ]
        return Lazy(lambda: EnsembleJudge(settings.judge_members, settings.judge_rule, loaders))
    return Lazy(lambda: judges.load_judge(settings.judge, settings.judge_format, context, settings.judge_scoring))


@contextlib.contextmanager
def open_cache(info: RunInfo) -> Iterator[Cache]:
    """The run's cache, held in use (``--cache-clear`` waits for it) and closed when the block ends."""
    if not info.persistent:
        Path(info.cache_dir).mkdir(mode=0o700, exist_ok=True)  # private to the run, as mkdtemp would make it
    with using_cache(info), Cache(Path(info.cache_dir, FILENAME)) as cache:
        yield cache


def run_loaded(
    pairs: Sequence[Pair],
    model: Model,
    judge: Judge,
    generation: GenerationSettings,
    cache: Cache | None = None,
    keys: Keys | None = None,
    chunk_size: int = DEFAULT_CHUNK,
    repeats: int = 1,
) -> RunOutcome:
    """``run`` in one process with a model and judge already loaded (left open); without a cache, through a
    throwaway one in memory. Raises ``FineError`` when the whole run fails. ``repeats``: as --fine-repeats.

    A persistent cache needs real ``keys`` (the model's and judge's identity): names alone would reuse answers
    across weight changes.
    """
    if cache is not None and keys is None:
        raise ValueError("run_loaded() with a cache needs keys: the model's and the judge's identity and the run")
    keys = keys or Keys(model=model.name, judge=judge.name, run="local", refusals=judges.loaded_reads_refusals(judge))
    # Events and locks under a run id of their own: a second call on the same cache is a new run, not a done one.
    with tempfile.TemporaryDirectory(prefix="fine-pytest-") as locks:
        info = RunInfo(uuid.uuid4().hex, locks, persistent=False)
        with Cache.in_memory() if cache is None else contextlib.nullcontext(cache) as store:
            try:
                plan = RunPlan(generation, keys, info, chunk_size, repeats=repeat_generations(generation, repeats))
                outcome = run(pairs, plan, store, GivenModel(model), Kept.of(judge))
            finally:
                store.end_run(info.run)
    if outcome.failure is not None:
        raise FineError(outcome.failure)
    return outcome


def true_counts(found: Stats, events: Iterable[str]) -> Stats:
    """Counts of what this run did, from its processes' own tallies: the cache keeps the first of two equal rows,
    so a run that shares its cache folder with another may have done work whose row carries the other's name."""
    produced = [json.loads(event) for event in events]
    generated = sum(int(p.get("generated", 0)) for p in produced)
    judged = sum(int(p.get("judged", 0)) for p in produced)
    stored_answers = found.generated + found.cached
    stored_verdicts = found.judged + found.verdicts_cached
    return replace(
        found,
        generated=min(generated, stored_answers),
        cached=max(stored_answers - generated, 0),
        judged=min(judged, stored_verdicts),
        verdicts_cached=max(stored_verdicts - judged, 0),
    )


def run_identity(
    pairs: Sequence[Pair], keys: Keys, generation: GenerationSettings, forms: Any, repeats: int = 1
) -> dict[str, str]:
    """What the run's results depend on, by content (never by path or name): the dataset's pairs, the model's and
    the judge's identities (weights or code digests), how answers were asked and read, and the tool's version.
    ``fine-pytest merge`` refuses shards whose identities differ."""
    from fine_pytest.core.version import __version__
    from fine_pytest.pipeline.cache import digest

    # A twin's counterpart is part of what it is; a dataset without twins keeps the digest it always had.
    dataset = [
        (pair.key, pair.category, pair.question, pair.positive, pair.negative)
        + (() if pair.twin_of is None else ("twin_of", str(pair.twin_of)))
        for pair in pairs
    ]
    asked: dict[str, Any] = {"open": generation.open.to_dict(), "mc": generation.mc.to_dict()}
    asked |= {"question": generation.mc_question} | ({"repeats": repeats} if repeats > 1 else {})  # once: as before
    return {
        "tool": __version__,
        "dataset": digest(dataset),
        "model": digest(keys.model),
        "judge": digest(keys.judge),
        "reading": digest({**asked, "method": generation.mc_method, "forms": forms.to_dict()}),
    }
