"""Reading a run's settings from the option table (plugin.option_table): the command line, then the ini file, then
the default; every value validated where it is read, every problem a usage error naming the option and the file.

Longer than 300 lines: one reader resolves every setting of the table and checks the combinations that cannot work
together (batch files, outputs, model settings given twice), so each rule is written once.
"""

from __future__ import annotations

import argparse
import os
import shlex
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from fine_pytest.backends.base import Endpoint
from fine_pytest.core.ensemble import label
from fine_pytest.core.errors import FineError
from fine_pytest.core.forms import FormSettings
from fine_pytest.core.safe_text import visible
from fine_pytest.core.sampling import GenerationSettings
from fine_pytest.core.thresholds import Thresholds
from fine_pytest.judges.ensemble import members_of
from fine_pytest.pipeline.settings import Settings, beside, model_labels
from fine_pytest.plugin.option_table import (
    API_KEY_ENV,
    BASE_URL,
    BASELINE,
    BATCH_MODEL,
    CACHE_DIR,
    CATEGORY_MIN_CS,
    CATEGORY_MIN_CSS,
    CHUNK_SIZE,
    CONCURRENCY,
    CONNECT_TIMEOUT,
    DATASET,
    DEVICES,
    ENGINE_ARG,
    EXPORT_REQUESTS,
    FAIL_ON_DROP,
    FORMS,
    FORMS_BUDGET,
    FORMS_EXAMPLES,
    GATE_ON,
    HTML,
    IMPORT_RESPONSES,
    JUDGE,
    JUDGE_CALIBRATION,
    JUDGE_COMBINE,
    JUDGE_FORMAT,
    JUDGE_SCORING,
    MAX_MONITORED_GAP,
    MAX_OVER_REFUSAL,
    MAX_REGRESSIONS,
    MAX_TOKENS,
    MC_MAX_TOKENS,
    MC_QUESTION,
    MC_SCORING,
    MIN_CS,
    MIN_CSS,
    MIN_CSS_ALL_REPEATS,
    MIN_ROBUST_CSS,
    MODEL,
    NO_CACHE,
    NO_SEED,
    REPEATS,
    REPORT,
    RETRIES,
    SEED,
    SHARD,
    SHOW,
    STRICT,
    SUMMARY,
    TEMPERATURE,
    THRESHOLD,
    TIMEOUT,
    Option,
    category_minimum,
    engine_setting,
)


def generation_settings(reader: _Reader, temperature: float, seed: int | None) -> GenerationSettings:
    """Budgets and stops follow the MC reading: the declaration alone stops at its closing brackets; a free answer
    before a commitment runs to its end."""
    return GenerationSettings.default(
        reader.value(MC_SCORING),
        max_tokens=reader.value(MAX_TOKENS),
        mc_max_tokens=reader.value(MC_MAX_TOKENS),
        temperature=temperature,
        seed=seed,
        mc_question=reader.value(MC_QUESTION),
    )


def judge_choice(reader: _Reader) -> dict[str, Any]:
    """The judge, or an ensemble of judges (--fine-judge given more than once), as Settings fields."""
    specs, _ = reader.lines(JUDGE)
    formats = reader.parsed_lines(JUDGE_FORMAT)
    if len(specs) > 1 and len(formats) > 1 and reader.given(JUDGE) != reader.given(JUDGE_FORMAT):
        # Formats listed per judge pair with the judges of their own list, never with another source's.
        raise pytest.UsageError(
            "--fine-judge-format: one format per judge goes where the judges are (both on the command line, or both "
            "in the ini file)"
        )
    try:
        members = members_of(specs or [JUDGE.default], formats)
    except FineError as error:
        raise pytest.UsageError(str(error)) from None
    rule = reader.value(JUDGE_COMBINE)
    if len(members) == 1:
        if reader.given(JUDGE_COMBINE) or reader.config.getini(JUDGE_COMBINE.ini):
            raise pytest.UsageError(
                "--fine-judge-combine (ini fine_judge_combine) combines two or more judges; one judge is given"
            )
        return {"judge": members[0].spec, "judge_format": members[0].format}
    return {"judge": label(members, rule), "judge_format": None, "judge_members": members, "judge_rule": rule}


def models_in(args: Sequence[str]) -> list[str]:
    """The models a list of arguments names with --model (or --fine-model), in order."""
    args = [str(arg) for arg in args]
    found = []
    for index, arg in enumerate(args):
        for flag in MODEL.flags:
            if arg.startswith(f"{flag}="):
                found.append(arg[len(flag) + 1 :])
            elif arg == flag and index + 1 < len(args):
                found.append(args[index + 1])
    return found


def model_choice(reader: _Reader) -> tuple[str, ...]:
    """The models under test, in order: --model given once or more, or else the ini file's lines; none given is the
    embedded default. A model named twice is a usage error (its two runs would be one)."""
    specs, where = reader.lines(MODEL)
    # pytest puts the ini file's addopts first, then PYTEST_ADDOPTS, then the command line, and each later source's
    # --model used to replace an earlier one's: it still does, and models repeated within one source are the run's.
    typed = models_in(getattr(reader.config.invocation_params, "args", None) or ())
    exported = models_in(shlex.split(os.environ.get("PYTEST_ADDOPTS", "")))
    for later in (typed, exported):
        if later and len(later) < len(specs):
            specs = later
            break
    seen: set[str] = set()
    for spec in specs:
        if spec in seen:
            raise pytest.UsageError(f"{where}: the model {visible(spec)!r} is named twice; name each model once")
        seen.add(spec)
    return tuple(specs)


def read_settings(config: pytest.Config) -> Settings:
    """Resolve every option from the command line, then the ini file, then the default; raise UsageError."""
    reader = _Reader(config)
    threshold = reader.value(THRESHOLD)
    min_cs = reader.value(MIN_CS)
    min_css = reader.value(MIN_CSS)
    chosen_seed = reader.value(SEED)
    seed = None if chosen_seed == NO_SEED else chosen_seed
    chosen_temperature = reader.value(TEMPERATURE)
    report = reader.path(REPORT)
    models = model_choice(reader)
    settings = Settings(
        model=models[0] if models else None,
        models=models if len(models) > 1 else (),
        **judge_choice(reader),
        datasets=reader.paths(DATASET),
        thresholds=Thresholds.chosen(
            threshold,
            min_cs,
            min_css,
            category_min_cs=reader.category_table(CATEGORY_MIN_CS),
            category_min_css=reader.category_table(CATEGORY_MIN_CSS),
            max_regressions=reader.value(MAX_REGRESSIONS),
            drop_alpha=reader.value(FAIL_ON_DROP),
            min_robust_css=reader.value(MIN_ROBUST_CSS),
            min_css_all_repeats=reader.value(MIN_CSS_ALL_REPEATS),
            max_over_refusal=reader.value(MAX_OVER_REFUSAL),
            max_monitored_gap=reader.value(MAX_MONITORED_GAP),
            gate_on=reader.value(GATE_ON),
        ),
        forms=FormSettings(
            families=reader.value(FORMS),
            examples=reader.value(FORMS_EXAMPLES),
            budget=reader.value(FORMS_BUDGET),
            seed=seed if seed is not None else 0,
        ),
        strict=bool(reader.value(STRICT)),
        report=report,
        generation=generation_settings(reader, chosen_temperature, seed),
        show=reader.value(SHOW),
        engine_args=reader.engine_args(ENGINE_ARG),
        cache_dir=reader.path(CACHE_DIR),
        no_cache=bool(reader.value(NO_CACHE)),
        chunk_size=reader.value(CHUNK_SIZE),
        shard=reader.value(SHARD),
        devices=reader.value(DEVICES),
        html=reader.path(HTML),
        summary=reader.path(SUMMARY),
        baseline=reader.path(BASELINE),
        judge_calibration=reader.path(JUDGE_CALIBRATION),
        export_requests=reader.path(EXPORT_REQUESTS),
        import_responses=reader.path(IMPORT_RESPONSES),
        batch_model=reader.value(BATCH_MODEL),
        judge_scoring=reader.value(JUDGE_SCORING),
        repeats=reader.value(REPEATS),
        endpoint=Endpoint(
            base_url=reader.value(BASE_URL),
            api_key_env=reader.value(API_KEY_ENV),
            concurrency=reader.value(CONCURRENCY),
            timeout=reader.value(TIMEOUT),
            connect_timeout=reader.value(CONNECT_TIMEOUT),
            retries=reader.value(RETRIES),
        ),
    )
    from fine_pytest.pipeline.checks import check_over_refusal, check_repeats  # loaded only where options are read

    try:
        check_repeats(settings)
        check_over_refusal(settings)
    except FineError as error:
        raise pytest.UsageError(str(error)) from None
    if settings.models and (settings.export_requests is not None or settings.import_responses is not None):
        raise pytest.UsageError(
            f"{MODEL.flag} is given {len(settings.models)} times: a batch file holds one model's requests; export "
            "(--fine-export-requests) or import (--fine-import-responses) one model at a time"
        )
    if settings.thresholds.min_robust_css is not None and not settings.forms:
        raise pytest.UsageError(
            f"{MIN_ROBUST_CSS.flag} gates on the consistency forms: name them with {FORMS.flag}=labels,single,..."
        )
    if settings.thresholds.max_monitored_gap is not None and "monitored" not in settings.forms.families:
        raise pytest.UsageError(
            f"{MAX_MONITORED_GAP.flag} gates on the monitored form: add it with {FORMS.flag}=monitored"
        )
    if settings.forms:
        from fine_pytest.pipeline.forms import hypothesis_version

        settings = replace(settings, forms=replace(settings.forms, hypothesis=hypothesis_version()))
    check_batch(settings)
    check_outputs(settings)
    if settings.thresholds.needs_baseline and settings.baseline is None:
        raise pytest.UsageError(
            f"{MAX_REGRESSIONS.flag} and {FAIL_ON_DROP.flag} compare with an earlier run: give it as "
            f"{BASELINE.flag}=REPORT (a JSON report written with {REPORT.flag})"
        )
    return settings


def check_outputs(settings: Settings) -> None:
    """Every file the run will write is a new path or a regular file in a folder, and no two are the same."""
    from fine_pytest.core.outputs import check_output

    outputs = [
        (REPORT, settings.report),
        (HTML, settings.html),
        (SUMMARY, settings.summary),
        (EXPORT_REQUESTS, settings.export_requests),
    ]
    if settings.models:
        # Several models: each model's reports and the comparison go beside the paths given (plugin.models).
        for part in (*model_labels(settings.models), "comparison"):
            outputs += [(REPORT, beside(settings.report, part)), (HTML, beside(settings.html, part))]
    given = [(option, target.resolve()) for option, target in outputs if target is not None]
    for index, (option, resolved) in enumerate(given):
        for other, same in given[index + 1 :]:
            if resolved == same:
                raise pytest.UsageError(
                    f"{option.flag} and {other.flag} name the same file, {resolved}: give each its own"
                )
    try:
        for option, path in outputs:
            if path is not None:
                check_output(path, option.flag)
    except FineError as error:
        raise pytest.UsageError(str(error)) from None


class _Reader:
    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.inifile = str(config.inipath) if config.inipath else "the ini file"
        self.inidir = config.inipath.parent if config.inipath else config.rootpath

    def _invalid(self, key: str, raw: object, message: object) -> pytest.UsageError:
        return pytest.UsageError(f"{self.inifile}: option '{key}' = {raw!r}: {message}")

    def _source(self, key: str) -> str:
        """Where an ini value came from: ``-o key=...`` on the command line, or the ini file."""
        overrides = self.config.getoption("override_ini", None) or []
        return (
            "-o/--override-ini" if any(entry.split("=", 1)[0].strip() == key for entry in overrides) else self.inifile
        )

    def flag(self, option: Option) -> bool:
        """A boolean option: the flag, else its ini value (pytest reads true/false, yes/no, on/off, 1/0)."""
        if self.config.getoption(option.ini) is not None:
            return True
        try:
            return bool(self.config.getini(option.ini))
        except (pytest.UsageError, ValueError, TypeError) as error:
            # pytest's own message ("invalid truth value 'maybe'") names neither the option nor the file.
            raise pytest.UsageError(
                f"{self._source(option.ini)}: option '{option.ini}': expected true or false (also yes/no, on/off, "
                f"1/0): {error}"
            ) from None

    def value(self, option: Option) -> Any:
        """The command line's value, else the ini file's, else the option's default."""
        if option.action == "store_true":
            return self.flag(option)
        given = self.config.getoption(option.ini)
        if given is not None:
            return given
        raw = self.config.getini(option.ini)
        if raw in ("", None):
            return option.default
        try:
            return option.parse(str(raw))
        except argparse.ArgumentTypeError as error:
            raise self._invalid(option.ini, raw, error) from None

    def path(self, option: Option) -> Path | None:
        """A path from the command line is relative to where pytest started; from the ini file, to that file."""
        given = self.config.getoption(option.ini)
        if given is not None:
            return Path(self.config.invocation_params.dir, given)
        raw = self.config.getini(option.ini)
        return Path(self.inidir, raw) if raw else None

    def paths(self, option: Option) -> tuple[Path, ...]:
        given = self.config.getoption(option.ini)
        if given:
            return tuple(Path(self.config.invocation_params.dir, path) for path in given)
        return tuple(Path(self.inidir, line) for line in self.config.getini(option.ini))

    def given(self, option: Option) -> bool:
        """Whether the option is on the command line (not only in the ini file)."""
        value = self.config.getoption(option.ini)
        return bool(value) if option.action == "append" else value is not None

    def lines(self, option: Option) -> tuple[list[str], str]:
        """A repeatable option's values from the command line, or else its ini lines; and where they came from."""
        given = self.config.getoption(option.ini)
        if given:
            return list(given), option.flag
        return list(self.config.getini(option.ini)), f"{self.inifile}: option '{option.ini}'"

    def parsed_lines(self, option: Option) -> list[Any]:
        """A repeatable option's parsed values: the command line's are parsed by argparse, the ini file's here."""
        given = self.config.getoption(option.ini)
        if given:
            return list(given)
        parsed = []
        for line in self.config.getini(option.ini):
            try:
                parsed.append(option.parse(line))
            except argparse.ArgumentTypeError as error:
                raise self._invalid(option.ini, line, error) from None
        return parsed

    def engine_args(self, option: Option) -> dict[str, Any]:
        """KEY=VALUE pairs (engine_setting), from the command line or else the ini file."""
        lines, where = self.lines(option)
        settings: dict[str, Any] = {}
        for line in lines:
            try:
                key, value = engine_setting(line)
            except argparse.ArgumentTypeError as error:
                raise pytest.UsageError(f"{where}: {error}") from None
            settings[key] = value
        return settings

    def category_table(self, option: Option) -> dict[str, float]:
        key = option.ini
        table: dict[str, float] = {}
        for line in self.config.getini(key):
            try:
                category, minimum = category_minimum(line)
            except argparse.ArgumentTypeError as error:
                raise self._invalid(key, line, error) from None
            if category in table:
                # Two minimums for one category: neither can be the one meant.
                raise self._invalid(key, line, f"category {category!r} is listed twice (one minimum per category)")
            table[category] = minimum
        return table


def check_batch(settings: Settings) -> None:
    """Batch files join two runs by cache key: refuse what cannot be joined before any work."""
    if settings.export_requests is not None and settings.import_responses is not None:
        raise pytest.UsageError(
            f"{EXPORT_REQUESTS.flag} and {IMPORT_RESPONSES.flag} are two steps: import the answers first (the run "
            f"stores them), then export what is still missing in a run of its own"
        )
    if settings.export_requests is None and settings.import_responses is None:
        return
    if settings.repeats > 1:
        raise pytest.UsageError(
            f"{EXPORT_REQUESTS.flag}/{IMPORT_RESPONSES.flag} with --fine-repeats: batch files carry one repeat's "
            "prompts; run the repeats with a live model"
        )
    if settings.export_requests is not None and settings.no_cache:
        raise pytest.UsageError(
            f"{EXPORT_REQUESTS.flag} with --fine-no-cache: the exported prompts are answered in a later run, which "
            "finds the answers before them in the cache; keep the cache"
        )
    generation = settings.generation
    unseeded = [s for s in (generation.open, generation.mc) if s.temperature != 0 and s.seed is None]
    if unseeded:
        raise pytest.UsageError(
            f"{EXPORT_REQUESTS.flag}/{IMPORT_RESPONSES.flag} need answers that can be reused across runs: sample "
            f"greedily (--fine-temperature=0) or with a seed (--fine-seed=N)"
        )
    if settings.import_responses is not None and not settings.import_responses.is_file():
        raise pytest.UsageError(f"{IMPORT_RESPONSES.flag}: no file at {settings.import_responses}")
