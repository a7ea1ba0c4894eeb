"""The worker side: datasets, parametrization and the evaluation, in the process where the FINE tests run.

It evaluates every selected pair in one batch at the first FINE test, then hands each test its pair's result and
attaches the result to the test's report; the controller (plugin.controller) reads the reports. Without xdist one
process plays both parts, through the same code (plugin.roles).

Longer than 300 lines: the evaluation's life in a pytest process (when it starts: at collection, at the first FINE
test, or for a pair requested outside the collected items; capture around the engine's output; failures shown
once; results onto reports) is one object's state. The run itself is pipeline.run's.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import pytest

from fine_pytest import backends
from fine_pytest.backends import base
from fine_pytest.core.dataset import DatasetError, Pair, bundled_dataset, load_datasets
from fine_pytest.core.errors import FineError
from fine_pytest.core.forms import Family
from fine_pytest.core.results import PairResult
from fine_pytest.core.safe_text import visible, visible_lines
from fine_pytest.pipeline.batch import EXPORT, Exporting, Importing, write_export
from fine_pytest.pipeline.batch_files import BatchFileError
from fine_pytest.pipeline.cache import FILENAME, Cache, CacheError
from fine_pytest.pipeline.checks import check_begun_replies, check_categories, check_over_refusal, check_specs
from fine_pytest.pipeline.coordination import RunInfo, device_for, model_turn
from fine_pytest.pipeline.evaluate import LOGPROB, Request, no_verdict_reason
from fine_pytest.pipeline.form_families import resolve_families
from fine_pytest.pipeline.progress import SILENT, Progress, closing
from fine_pytest.pipeline.run import load_judge, open_cache, plan_of, run, run_identity, run_keys
from fine_pytest.pipeline.settings import Settings, model_labels, model_settings
from fine_pytest.pipeline.sources import AnswerSource, LiveModel, load_noted
from fine_pytest.plugin.collection import Markers, parametrize, select_shard
from fine_pytest.plugin.junit import junit_properties
from fine_pytest.plugin.pair import FinePair, ModelPair
from fine_pytest.plugin.roles import FIXTURE, model_of, pair_of, publish
from fine_pytest.plugin.screen import Screen
from fine_pytest.plugin.signals import announce_with, termination_as_interrupt

RESULT_KEY = pytest.StashKey[PairResult]()


class Evaluation:
    """Loads the datasets and, on the first ``fine_pair`` request, evaluates every selected pair in one batch."""

    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        self._pairs: list[Pair] | None = None
        self._markers = Markers(config)
        self._results: dict[str, PairResult] = {}
        self._pair_failures: dict[str, str] = {}
        self._evaluated = False
        self._specs_checked = False
        self._progress: Progress = SILENT
        self._screen = Screen(config)
        self._families: tuple[Family, ...] = ()  # the --fine-forms families, resolved to values
        self._failure: str | None = None
        self._failure_shown = False
        self.info: RunInfo = RunInfo("unset", "", False)  # set by the plugin at configure
        self._attempts = 0
        self.stats: dict[str, int] | None = None
        self.selection: dict[str, Any] | None = None  # the pairs --fine-shard split, when it is given
        # Batch files: the requests an export found missing (None: no export ran), and what an import stored.
        self.bad_batch_file = False
        self.exported: list[Request] | None = None
        self._importing: Importing | None = None  # the batch file, imported once per process
        # A run of several models (plugin.models): one Evaluation per model, each a run of its own; in one of them,
        # the model's index.
        self._models: list[Evaluation] | None = None
        self.model_index: int | None = None

    def models(self) -> list[Evaluation]:
        """Each model's evaluation, in order (none unless several models are under test): its settings, reports
        beside the paths given, and run id (this run's, with ``.m<index>``)."""
        if self._models is None:
            self._models = []
            for index in range(len(self.settings.models)):
                model = Evaluation(self.config, model_settings(self.settings, index))
                model.model_index, model._pairs = index, self._pairs
                model.info = replace(self.info, run=f"{self.info.run}.m{index}")
                self._models.append(model)
        return self._models

    def pairs(self) -> list[Pair]:
        if self._pairs is None:
            paths = self.settings.datasets or (bundled_dataset(),)
            try:
                self._pairs = load_datasets(paths)
            except DatasetError as error:
                # Each problem's line starts with the plugin's indent; file names may hold control characters.
                raise pytest.UsageError(visible_lines(error.render(), indent="")) from None
        return self._pairs

    def check_specs(self, run_user_code: bool = False) -> None:
        """Fail fast on a model or judge spec that cannot work: its shape at configure time, without running user
        code; its import (and a served model's server) once FINE tests will run, only once per process."""
        if run_user_code and self._specs_checked:
            return
        self._specs_checked = run_user_code
        try:
            probe = not self.config.option.collectonly
            check_specs(self.settings, self._context(), run_user_code=run_user_code, probe=probe)
        except FineError as error:
            # Server text can be in the message (an error reply): shown, never obeyed by the terminal.
            raise pytest.UsageError(visible_lines(str(error))) from None
        if not run_user_code:
            self.check_category_thresholds()
        elif self.settings.forms:
            try:
                self.resolve_forms(self.pairs()[:1])
            except FineError as error:
                raise pytest.UsageError(visible_lines(str(error))) from None

    def resolve_forms(self, probes: Sequence[Pair]) -> None:
        """Resolve the run's form families to values and check them; their openings too when answers are read by
        probability."""
        scored = self.settings.generation.mc_method == LOGPROB
        self._families = resolve_families(self.settings.forms.families, probes, scored)
        check_begun_replies(self.settings, self._families)

    def check_category_thresholds(self) -> None:
        """The thresholds that name what the datasets hold: categories, and benign twins for over-refusal."""
        try:
            if self.settings.thresholds.categories:
                check_categories(self.settings.thresholds, self.pairs(), str(self.config.inipath or "the ini file"))
            if self.settings.thresholds.max_over_refusal is not None:
                check_over_refusal(self.settings, self.pairs())
        except FineError as error:
            raise pytest.UsageError(str(error)) from None

    def parametrize(self, metafunc: pytest.Metafunc) -> None:
        parametrize(metafunc, self.pairs(), self._markers, model_labels(self.settings.models))

    def select_shard(self, items: list[pytest.Item]) -> list[pytest.Item]:
        """Keep this job's part of the FINE tests (other tests all stay); return the FINE tests left out."""
        assert self.settings.shard is not None
        self.selection, dropped = select_shard(items, self.settings.shard)
        return dropped

    def export(self, items: Sequence[pytest.Item]) -> None:
        """--fine-export-requests: find what the run still needs asked, write it as a batch file, and stop (status 0,
        no gate: nothing was evaluated)."""
        pairs = [pair for pair in (pair_of(item) for item in items) if pair is not None]
        if not pairs:
            pytest.exit(f"FINE {EXPORT}: no FINE pair test was collected, nothing to export", returncode=5)
        self._evaluate(pairs)
        if self._failure is not None or self.exported is None:
            pytest.exit(visible_lines(f"FINE {EXPORT} failed: {self._failure}"), returncode=4)
        try:
            message = write_export(self.settings, self.exported)
        except FineError as error:
            pytest.exit(visible_lines(str(error)), returncode=4)
        pytest.exit(visible_lines(message), returncode=0)

    def collected(self, items: Sequence[pytest.Item], worker: bool) -> None:
        """What happens once the tests are collected, before any runs: an export (which stops the session), an
        import (checked now where a bad file can be a usage error: not in an xdist worker, where it fails each FINE
        test instead), and, with several devices, the evaluation itself."""
        if self.settings.export_requests is not None:
            self.export(items)
        if self.settings.import_responses is not None and not worker:
            self.import_now(items)
        if self.info.partition_count > 1:
            # One engine per device: each worker starts its share now, not when the scheduler first hands it a FINE
            # test (that may come after minutes of other tests, while the other workers wait for its share).
            self.prepare(items)

    def import_now(self, items: Sequence[pytest.Item]) -> None:
        """--fine-import-responses: evaluate at collection, so a batch file this run cannot use is a usage error
        (status 4) before any test runs; nothing from it was stored."""
        self.prepare(items)
        if self.bad_batch_file and self._failure is not None:
            pytest.exit(visible_lines(self._failure), returncode=4)

    def prepare(self, items: Sequence[pytest.Item]) -> None:
        """Evaluate the collected FINE tests' pairs now rather than at the first FINE test."""
        if self.settings.models:
            self.evaluate_models(items)
            return
        pairs = [pair for pair in (pair_of(item) for item in items) if pair is not None]
        if pairs and not self._evaluated:
            self._evaluate(pairs)

    def evaluate_models(self, items: Sequence[pytest.Item]) -> None:
        """Several models: each model's selected pairs, one model after another (each run releases its engine
        before the next model loads), in the same order in every process."""
        if self._evaluated:
            return
        self._evaluated = True
        for model in self.models():
            pairs = [pair_of(item) for item in items if model_of(item) == model.model_index]
            if not pairs:
                continue
            try:
                with model_turn(self.info):
                    model._evaluate(pairs)
            except CacheError as error:  # the turn's lock could not be made: that model's tests fail with it
                model._evaluated, model._failure = True, str(error)

    def fine_pair(self, request: pytest.FixtureRequest) -> FinePair:
        param = request.param
        if self.settings.models and isinstance(param, ModelPair):
            self.evaluate_models(request.session.items)
            return self.models()[param.index].answer(request, param.pair)
        if not isinstance(param, Pair):
            raise pytest.UsageError(f"'{FIXTURE}' is parametrized by fine-pytest; do not parametrize it yourself")
        if not self._evaluated:
            self._evaluate([p for p in (pair_of(item) for item in request.session.items) if p is not None])
        return self.answer(request, param)

    def answer(self, request: pytest.FixtureRequest, pair: Pair) -> FinePair:
        """The pair's result for its test, once this evaluation has run; a failure fails the test, saying why."""
        if self._failure is not None and not self._failure_shown:
            self._failure_shown = True  # evaluated here or at collection: the first FINE test shows it in full
            if self.model_index is None:
                # Every other FINE test would fail the same way: the run stops here (as -x would), its error said
                # once. One model of several that failed stops nothing: the other models' tests still run.
                request.session.shouldfail = "FINE evaluation failed: the error above says why; no further test was run"
            pytest.fail(visible_lines(self._failure), pytrace=False)
        if self._failure is not None:
            # The full error was shown on the first pair; thousands of copies would bury it.
            whose = "" if self.model_index is None else " of this model"
            pytest.fail(f"FINE evaluation failed; see the error of the first FINE test{whose}", pytrace=False)
        if pair.key not in self._results and pair.key not in self._pair_failures:
            # Requested outside the collected items (e.g. getfixturevalue in a plugin's own test): evaluate it alone.
            self._evaluate([pair])
        if pair.key in self._pair_failures:
            pytest.fail(visible_lines(self._pair_failures[pair.key]), pytrace=False)
        result = self._results[pair.key]
        request.node.stash[RESULT_KEY] = result
        request.node.user_properties.extend(junit_properties(result))
        if self.model_index is not None:
            request.node.user_properties.append(("fine_model", self.settings.model_spec))  # which model of several
        return FinePair(pair=pair, result=result, strict=self.settings.strict)

    def verdicts(self, request: pytest.FixtureRequest) -> list[PairResult]:
        """Results of every pair this session selected (of every loaded pair when it selected none), for the
        baseline snapshot; a pair without a verdict fails the request, since a partial table is no baseline."""
        if self.settings.shard is not None:
            pytest.skip(
                "the verdict baseline covers a whole run, not one --fine-shard; compare the merged report instead: "
                "fine-pytest merge ... --fine-baseline=REPORT"
            )
        if self.settings.models:
            pytest.skip(
                "the verdict baseline records one model's verdicts; with several models under test each model's JSON "
                "report is its record (--fine-report), and the comparison says how the models differ"
            )
        pairs = [p for p in (pair_of(item) for item in request.session.items) if p is not None] or self.pairs()
        if not self._evaluated:
            self._evaluate(pairs)
        if self._failure is not None:
            pytest.fail(visible_lines(self._failure), pytrace=False)
        missing = [pair for pair in pairs if pair.key not in self._results and pair.key not in self._pair_failures]
        if missing:
            self._evaluate(missing)
        failed = [pair.key for pair in pairs if pair.key in self._pair_failures]
        if failed:
            pytest.fail(
                f"{len(failed)} of {len(pairs)} pairs have no verdict ({visible(', '.join(failed[:5]))}"
                f"{', ...' if len(failed) > 5 else ''}): no baseline to compare",
                pytrace=False,
            )
        return [self._results[pair.key] for pair in pairs]

    def _evaluate(self, pairs: Sequence[Pair]) -> None:
        self._evaluated = True
        unique = list({pair.key: pair for pair in pairs}.values())
        announce_with(self._screen.announce)
        try:
            with termination_as_interrupt():
                self._generate(unique)
        except FineError as error:
            self._failure = str(error)
            self.bad_batch_file = isinstance(error, BatchFileError)
        except CacheError as error:
            self._failure = str(error)
        except BaseException as error:
            # SystemExit or KeyboardInterrupt: let pytest handle it, but never evaluate again pair by pair.
            self._failure = f"FINE evaluation was stopped: {type(error).__name__}"
            raise

    def _generate(self, unique: list[Pair]) -> None:
        """Run the pipeline over the pairs (pipeline.run) and keep what it gives back for the tests."""
        info = self.info
        self._note_cache()
        self._progress = self._screen.progress()
        with open_cache(info) as cache, closing(self._progress):
            context = self._context()
            keys = run_keys(self.settings, context, cache, info.run)
            # The consistency forms' variants, drawn for every pair alike in every process (--fine-forms). An xdist
            # worker checks the families here: its controller collects nothing, so it never ran check_specs.
            if self.settings.forms:
                self.resolve_forms(unique[:1])
            self._attempts += 1
            # Locks and events of a later evaluation in this process (a pair requested outside the collected items)
            # get a scope of their own: the run's partitions are already done, and this one is not.
            scope = None if self._attempts == 1 else replace(info, run=f"{info.run}.{os.getpid()}.{self._attempts}")
            plan = plan_of(self.settings, keys, info, unique, self._families, scope)
            judge = load_judge(self.settings, context)
            source = self._answer_source(context, cache)
            outcome = run(unique, plan, cache, source, judge, self._progress)
            if outcome.exported is not None or (self.settings.export_requests is not None and outcome.failure):
                self.exported, self._failure = outcome.exported, outcome.failure
                return
            identity = run_identity(
                self.pairs(), keys, self.settings.generation, self.settings.forms, self.settings.repeats
            )
        self.stats = outcome.stats
        imported = getattr(source, "imported", None)
        imported = None if imported is None else {"path": str(self.settings.import_responses), **asdict(imported)}
        found = {
            "fine_stats": self.stats,
            "fine_identity": identity,
            **({"fine_imported": imported} if imported else {}),
        }
        # One model's findings in a run of several are named for it (plugin.models.ModelsController.receive).
        suffix = "" if self.model_index is None else f"@{self.model_index}"
        publish(self.config, **{f"{name}{suffix}": value for name, value in found.items()})
        if outcome.failure is not None:
            self._failure = outcome.failure
            return
        self._results.update((result.key, result) for result in outcome.results)
        self._pair_failures.update(outcome.failures)

    def _answer_source(self, context: base.ModelContext, cache: Cache) -> AnswerSource:
        """The model, or a batch file's answers (kept for the process: a file is imported once), or the cache alone."""
        if self.settings.export_requests is not None:
            return Exporting(self.settings)
        if self.settings.import_responses is not None:
            if self._importing is None:
                self._importing = Importing(self.settings)
            return self._importing
        return LiveModel(lambda partition: self._load_model(context, cache, partition))

    def _note_cache(self) -> None:
        """Note the FINE cache's place in pytest's cache, which creates .pytest_cache the way pytest does (with its
        .gitignore) before the FINE cache is made inside it. Not at start-up: a run without FINE tests writes
        nothing. Skipped when pytest's cache is off (-p no:cacheprovider) or the user chose the folder."""
        pytest_cache = getattr(self.config, "cache", None)
        if pytest_cache is not None and self.info.persistent and self.settings.cache_dir is None:
            pytest_cache.set("fine-pytest/cache", str(Path(self.info.cache_dir, FILENAME)))

    def _load_model(self, context: base.ModelContext, cache: Cache, partition: int) -> Any:
        device = device_for(self.info, partition)
        if device is not None:
            # Read by the engine's processes when they start; this process has not touched the device.
            os.environ["CUDA_VISIBLE_DEVICES"] = device
        # An engine's start-up log (it runs in processes of its own) reaches the terminal only with -v.
        engine = backends.split_spec(self.settings.model_spec)[0] != "py"
        shown = self._screen.shown(engine and context.verbose > 0)
        loader = f"pid {os.getpid()}"
        return load_noted(self.settings, context, cache, self.info.run, partition, self._progress, loader, shown)

    def _context(self) -> base.ModelContext:
        return base.ModelContext(
            engine_args=self.settings.engine_args, verbose=self.config.option.verbose, endpoint=self.settings.endpoint
        )

    def keys_found(self, items: Sequence[pytest.Item]) -> dict[str, Any]:
        """The FINE tests collected, for the controller: their pairs' keys, and with several models [index, key]."""
        keys = [pair.key for pair in (pair_of(item) for item in items) if pair is not None]
        if not self.settings.models:
            return {"fine_keys": keys}
        found = [[model_of(item), pair_of(item).key] for item in items if model_of(item) is not None]
        return {"fine_keys": keys, "fine_model_keys": found}

    def annotate(self, item: pytest.Item, report: pytest.TestReport) -> None:
        """Attach what the controller needs to every report of a FINE test; the result travels with the call."""
        pair = pair_of(item)
        if pair is None:
            return
        index = model_of(item)
        if self.settings.models and index is not None:
            report.fine_model = index  # type: ignore[attr-defined]
            self.models()[index].annotate(item, report)
            return
        report.fine_key = pair.key  # type: ignore[attr-defined]
        if report.when == "call" and RESULT_KEY in item.stash:
            report.fine = item.stash[RESULT_KEY].to_dict()  # type: ignore[attr-defined]
        if report.failed and self._failure is not None:
            report.fine_stopped = True  # type: ignore[attr-defined]  # the whole evaluation failed: the run stops
        if report.failed and pair.key in self._pair_failures:
            # Why the pair has no verdict, without the pair's name: the controller counts pairs by reason.
            reason = no_verdict_reason(pair.key, self._pair_failures[pair.key])
            report.fine_unjudged = reason  # type: ignore[attr-defined]
