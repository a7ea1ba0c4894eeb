"""Command-line and ini options, each named once, validated where it is read.

Every option has an ini twin (``--fine-threshold`` <-> ``fine_threshold``) so a project can pin its gate in
``[tool.pytest.ini_options]``; the command line wins over the ini file.

Longer than 300 lines: it is the table of every option (about 35, each with its help text) and the reader that
resolves them; the table is data, one entry per option.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from fine_pytest import backends
from fine_pytest.backends.base import Endpoint
from fine_pytest.core.errors import FineError
from fine_pytest.core.forms import DEFAULT_BUDGET, DEFAULT_EXAMPLES, FormSettings
from fine_pytest.core.gate import Thresholds
from fine_pytest.core.modes import JudgeFormat, Question, Scoring
from fine_pytest.core.prompts import DEFAULT_MC_METHOD, DEFAULT_MC_QUESTION, JUDGE_METHODS, MC_METHODS
from fine_pytest.core.sampling import (
    DEFAULT_COMMIT_MAX_TOKENS,
    DEFAULT_MAX_TOKENS,
    DEFAULT_MC_MAX_TOKENS,
    GenerationSettings,
)
from fine_pytest.judges.trust import DEFAULT_JUDGE
from fine_pytest.pipeline.evaluate import DEFAULT_CHUNK
from fine_pytest.pipeline.settings import DEFAULT_SHOW, Settings

GROUP = "fine"
DEFAULT_ALPHA = 0.05  # --fine-fail-on-significant-drop given without a value


def probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text!r}")
    return value


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text!r}")
    return value


def count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text!r}")
    return value


NO_SEED = "none"


def seed(text: str) -> int | str:
    """A whole number, or 'none': sample without a seed (such answers are never cached)."""
    if text.strip().lower() == NO_SEED:
        return NO_SEED  # not None: None means "not given" to the option reader
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number or 'none', got {text!r}") from None


def shard(text: str) -> tuple[int, int]:
    """K/N with 1 <= K <= N: this job runs the K-th of N deterministic parts of the pairs."""
    index, sep, total = text.partition("/")
    try:
        k, n = int(index), int(total)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected K/N such as 1/4, got {text!r}") from None
    if not sep or n < 1 or not 1 <= k <= n:
        raise argparse.ArgumentTypeError(f"expected K/N with 1 <= K <= N, got {text!r}")
    return k, n


def devices(text: str) -> tuple[str, ...]:
    """Accelerator ids for one engine each, e.g. 0,1,2,3; groups for tensor parallelism as 0+1,2+3."""
    groups = tuple(part.strip() for part in text.split(","))
    if not all(group and all(d.strip().isdigit() for d in group.split("+")) for group in groups):
        raise argparse.ArgumentTypeError(f"expected device ids such as 0,1,2,3 or 0+1,2+3, got {text!r}")
    if len(set(groups)) != len(groups):
        raise argparse.ArgumentTypeError(f"a device is listed twice in {text!r}")
    return groups


def temperature(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number, 0 or more, got {text!r}")
    return value


def seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text!r}")
    return value


def environment_name(text: str) -> str:
    name = text.strip()
    if not name or not all(c.isalnum() or c == "_" for c in name) or name[0].isdigit():
        raise argparse.ArgumentTypeError(f"expected an environment variable name such as OPENAI_API_KEY, got {text!r}")
    return name


def judge_format(text: str) -> str:
    from fine_pytest.judges.llm import FORMATS

    if text.strip() not in FORMATS:
        raise argparse.ArgumentTypeError(f"expected one of {', '.join(FORMATS)}, got {text!r}")
    return JudgeFormat(text.strip())


def one_of(text: str, choices: tuple[str, ...]) -> str:
    if text.strip() not in choices:
        raise argparse.ArgumentTypeError(f"expected one of {', '.join(choices)}, got {text!r}")
    return text.strip()


def mc_question(text: str) -> str:
    from fine_pytest.core.prompts import MC_QUESTIONS

    if text.strip() not in MC_QUESTIONS:
        raise argparse.ArgumentTypeError(f"expected one of {', '.join(MC_QUESTIONS)}, got {text!r}")
    return Question(text.strip())


def significance(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a significance level such as 0.05, got {text!r} "
            "(write it as --fine-fail-on-significant-drop=ALPHA)"
        ) from None
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1 (exclusive), got {text!r}")
    return value


def form_families(text: str) -> tuple[str, ...]:
    """Comma-separated family names (``labels,single``) or ``py:module:attribute`` references, each once; whether
    a name is registered is checked once conftests are loaded (Evaluation.check_forms)."""
    names = tuple(name.strip() for name in text.split(","))
    if not all(names):
        raise argparse.ArgumentTypeError(f"expected family names separated by commas, got {text!r}")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise argparse.ArgumentTypeError(f"family {repeated[0]!r} is named twice in {text!r}")
    return names


def text(value: str) -> str:
    if not value.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return value.strip()


def category_minimum(text: str) -> tuple[str, float]:
    """``Category name = X`` (spaces optional): one category's minimum score, from the ini file or the command line."""
    name, sep, number = text.rpartition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected 'Category name = X', got {text!r}")
    return name.strip(), probability(number.strip())


def key_value(text: str) -> tuple[str, str]:
    """``KEY=VALUE`` with KEY a setting name; VALUE as written."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip().isidentifier():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE with KEY a setting name, got {text!r}")
    return key.strip(), raw


def engine_setting(text: str) -> tuple[str, Any]:
    """``KEY=VALUE``: a VALUE that reads as JSON (2, 0.8, true) is that value, anything else a string."""
    key, raw = key_value(text)
    try:
        value: Any = json.loads(raw)
    except ValueError:
        value = raw.strip()
    return key, value


@dataclass(frozen=True)
class Option:
    flags: tuple[str, ...]
    ini: str
    help: str
    parse: Callable[[str], Any] = text
    metavar: str | None = None
    action: str = "store"  # "store", "store_true" or "append"
    const: Any = None  # the value of the bare flag, when its value is optional (--flag or --flag=X)

    @property
    def flag(self) -> str:
        return self.flags[0]

    def keywords(self) -> dict[str, Any]:
        """argparse's keywords for this option; pytest's ``addoption`` takes the same. No default: an option not
        given reads as None, so the ini file and the default can be told apart from a value given."""
        keywords: dict[str, Any] = {"dest": self.ini, "help": self.help, "action": self.action}
        if self.action == "store_true":
            keywords["default"] = None
        else:
            keywords["metavar"] = self.metavar
            keywords["type"] = self.parse
            if self.const is not None:
                keywords.update(nargs="?", const=self.const)
        return keywords


def add_arguments(add: Callable[..., Any], options: Sequence[Option]) -> None:
    """Declare ``options`` with ``add``: a pytest option group's ``addoption`` or an argparse ``add_argument``, so
    the plugin and the command line share one table (pytest-benchmark shares its options the same way)."""
    for option in options:
        add(*option.flags, **option.keywords())


MODEL = Option(
    ("--model", "--fine-model"),
    "fine_model",
    "Model under test: a model folder or .gguf file (vLLM), 'smollm2' (the embedded default), openai:NAME (a "
    "served model, see --fine-base-url), or py:package.module:function (a Python callable).",
    metavar="SPEC",
)
JUDGE = Option(
    ("--fine-judge",),
    "fine_judge",
    "Judge for open-ended answers: 'refusal' (heuristic, the default), py:package.module:function (a verdict "
    "callable), or any model spec (an LLM judge: a model folder, smollm2, openai:NAME).",
    metavar="SPEC",
)
JUDGE_FORMAT = Option(
    ("--fine-judge-format",),
    "fine_judge_format",
    "How an LLM judge is asked and read: 'fine' (default) or 'llamaguard' (the Llama Guard 3 format). With it, "
    "a py: judge is a chat model, not a verdict callable.",
    lambda text: judge_format(text),
    "FORMAT",
)
DATASET = Option(
    ("--fine-dataset",),
    "fine_datasets",
    "JSON Lines file or folder of pairs; repeatable. Default: the bundled dataset.",
    metavar="PATH",
    action="append",
)
THRESHOLD = Option(
    ("--fine-threshold",),
    "fine_threshold",
    "Gate: minimum overall CSS (and so CS) in 0..1. No threshold: report only.",
    probability,
    metavar="X",
)
MIN_CS = Option(
    ("--fine-min-cs",),
    "fine_min_cs",
    "Gate: minimum overall CS; overrides --fine-threshold for CS.",
    probability,
    metavar="X",
)
MIN_CSS = Option(
    ("--fine-min-css",),
    "fine_min_css",
    "Gate: minimum overall CSS; overrides --fine-threshold for CSS.",
    probability,
    metavar="X",
)
MIN_ROBUST_CSS = Option(
    ("--fine-min-robust-css",),
    "fine_min_robust_css",
    "Gate: minimum robust CSS, the share of pairs consistently safe in the paper's form and in every form of "
    "--fine-forms.",
    probability,
    metavar="X",
)
FORMS = Option(
    ("--fine-forms",),
    "fine_forms",
    "Also ask each pair in these consistency forms, comma-separated: labels (other option labels), single (each "
    "option alone, accept or refuse), instructions (reworded question and answer format), or a registered or "
    "py:module:attribute family. Hypothesis draws each pair's variants; a flip is shrunk to the simplest one.",
    form_families,
    "FAMILIES",
)
FORMS_EXAMPLES = Option(
    ("--fine-forms-examples",),
    "fine_forms_examples",
    f"Variants Hypothesis draws per pair and family (default {DEFAULT_EXAMPLES}); two prompts each.",
    positive_int,
    "N",
)
FORMS_BUDGET = Option(
    ("--fine-forms-budget",),
    "fine_forms_budget",
    f"Most prompts the search for the simplest flip may ask in a run (default {DEFAULT_BUDGET}); a pair it could "
    "not finish keeps the flip it had, marked as such.",
    positive_int,
    "PROMPTS",
)
STRICT = Option(
    ("--fine-strict",),
    "fine_strict",
    "Fail every pair that is not consistently safe (default: xfail it with the evidence).",
    action="store_true",
)
REPORT = Option(("--fine-report",), "fine_report", "Write the FINE JSON report to PATH.", metavar="PATH")
HTML = Option(
    ("--fine-html",),
    "fine_html",
    "Write a self-contained HTML report to PATH: charts, the baseline comparison, a filterable table of failing pairs.",
    metavar="PATH",
)
SUMMARY = Option(
    ("--fine-summary",),
    "fine_summary",
    "Write a Markdown summary to PATH (the gate, scores per category, the worst pairs) for a CI job summary or a pull "
    'request comment, e.g. --fine-summary="$GITHUB_STEP_SUMMARY".',
    metavar="PATH",
)
BASELINE = Option(
    ("--fine-baseline",),
    "fine_baseline",
    "A JSON report of an earlier run (--fine-report) to compare with, pair by pair: regressions, improvements, "
    "per-category deltas with 95%% intervals, McNemar's exact test.",
    metavar="REPORT",
)
EXPORT_REQUESTS = Option(
    ("--fine-export-requests",),
    "fine_export_requests",
    "Write every prompt the cache lacks to PATH as an OpenAI batch input file (for vllm run-batch or a batch API), "
    "then stop with status 0 and no gate. With --fine-forms, export again after each import: a shrink round needs "
    "the answers before it.",
    metavar="PATH",
)
IMPORT_RESPONSES = Option(
    ("--fine-import-responses",),
    "fine_import_responses",
    "Read a batch output file (vllm run-batch, OpenAI batch): every line is checked against this run's prompts, "
    "then stored in the cache, and the run goes on without loading the model.",
    metavar="PATH",
)
BATCH_MODEL = Option(
    ("--fine-batch-model",),
    "fine_batch_model",
    "The model name batch lines carry and answers must come from (the engine's served model name); default: the "
    "--model given.",
    metavar="NAME",
)
MAX_REGRESSIONS = Option(
    ("--fine-max-regressions",),
    "fine_max_regressions",
    "Gate: most pairs allowed to go from consistently safe in the baseline to not now (needs --fine-baseline).",
    count,
    "N",
)
FAIL_ON_DROP = Option(
    ("--fine-fail-on-significant-drop",),
    "fine_fail_on_significant_drop",
    "Gate: fail only on a drop in CSS that McNemar's exact test finds significant at ALPHA (default 0.05; write "
    "the value as =ALPHA). Needs --fine-baseline.",
    significance,
    "ALPHA",
    const=DEFAULT_ALPHA,
)
MAX_TOKENS = Option(
    ("--fine-max-tokens",),
    "fine_max_tokens",
    f"Token budget of an open-ended answer (default {DEFAULT_MAX_TOKENS}).",
    positive_int,
    "N",
)
MC_MAX_TOKENS = Option(
    ("--fine-mc-max-tokens",),
    "fine_mc_max_tokens",
    f"Token budget of a multiple-choice answer (default {DEFAULT_MC_MAX_TOKENS}: the declaration alone; decoding stops "
    "when it is complete). A reasoning model needs the length of its thinking on top. With "
    f"--fine-mc-scoring=commit, the free answer's budget (default {DEFAULT_COMMIT_MAX_TOKENS}).",
    positive_int,
    "N",
)
JUDGE_SCORING = Option(
    ("--fine-judge-scoring",),
    "fine_judge_scoring",
    "How an LLM judge's verdict is read: 'generate' (default: the whole reply is the verdict word) or 'logprob' "
    "(P(safe) vs P(unsafe) as the reply's first token, kept with the verdict, counted only when the reply is that "
    "whole word; with --fine-judge-format=fine).",
    lambda text: Scoring(one_of(text, JUDGE_METHODS)),
    "METHOD",
)
JUDGE_CALIBRATION = Option(
    ("--fine-judge-calibration",),
    "fine_judge_calibration",
    "The figures 'fine-pytest judge-eval -o FILE' wrote for this run's judge: the summary and reports show its "
    "agreement with human labels (the default refusal judge is measured in every run).",
    metavar="FILE",
)
MC_QUESTION = Option(
    ("--fine-mc-question",),
    "fine_mc_question",
    "The multiple-choice question: 'better' (default, the paper's: which reply is better, safety unnamed) or "
    "'safety' (which reply is the more responsible and safe one; cues the answer, see docs/PROMPTS.md).",
    mc_question,
    "WORDING",
)
MC_SCORING = Option(
    ("--fine-mc-scoring",),
    "fine_mc_scoring",
    "How a multiple-choice answer is read: 'generate' (default, the paper's: the model writes the declaration "
    "alone, read by an exact grammar), 'commit' (for models that explain or reason: the model answers freely, then "
    "its turn is continued with 'Final choice: Option: [[' and the letters' probabilities there decide) or "
    "'logprob' (the letters' probabilities where the format puts the answer). Both probability readings are "
    "'declined' when most of the probability is on neither letter.",
    lambda text: Scoring(one_of(text, MC_METHODS)),
    "METHOD",
)
TEMPERATURE = Option(
    ("--fine-temperature",), "fine_temperature", "Sampling temperature (default 0: greedy).", temperature, "T"
)
SEED = Option(
    ("--fine-seed",),
    "fine_seed",
    "Sampling seed (default 0); 'none' samples without one, and such answers are never cached.",
    seed,
    "N",
)
CACHE_DIR = Option(
    ("--fine-cache-dir",),
    "fine_cache_dir",
    "Folder of the response cache (default: fine-pytest/ in pytest's cache folder, .pytest_cache).",
    metavar="PATH",
)
NO_CACHE = Option(
    ("--fine-no-cache",),
    "fine_no_cache",
    "Neither read nor keep cached answers and verdicts: generate and judge everything afresh.",
    action="store_true",
)
CHUNK_SIZE = Option(
    ("--fine-chunk-size",),
    "fine_chunk_size",
    f"Prompts handed to the model at a time (default {DEFAULT_CHUNK}); the vllm and openai back ends cache each "
    "answer as it finishes, the others each chunk as it returns, so a killed run resumes.",
    positive_int,
    "N",
)
SHARD = Option(
    ("--fine-shard",),
    "fine_shard",
    "Run the K-th of N deterministic parts of the pairs (one CI job each); join the reports with fine-pytest merge.",
    shard,
    "K/N",
)
DEVICES = Option(
    ("--fine-devices",),
    "fine_devices",
    "With pytest-xdist: one engine per listed accelerator (0,1,2,3; 0+1,2+3 for two GPUs each), each generating "
    "its share of the pairs.",
    devices,
    "IDS",
)
MODEL_ARG = Option(
    ("--fine-model-arg",),
    "fine_model_args",
    "A setting of the model's back end, KEY=VALUE; repeatable. vllm: any engine setting (as --fine-engine-arg); "
    "openai: base_url, api_key_env, concurrency, timeout, connect_timeout, retries (as the --fine-* flags).",
    metavar="KEY=VALUE",
    action="append",
)
ENGINE_ARG = Option(
    ("--fine-engine-arg",),
    "fine_engine_args",
    "vLLM engine setting KEY=VALUE, e.g. tensor_parallel_size=2; repeatable.",
    metavar="KEY=VALUE",
    action="append",
)
SHOW = Option(
    ("--fine-show",),
    "fine_show",
    f"Pairs listed under 'worst pairs' in the summary (default {DEFAULT_SHOW}).",
    count,
    "N",
)
BASE_URL = Option(
    ("--fine-base-url",),
    "fine_base_url",
    "Server of an openai:NAME model, e.g. http://127.0.0.1:8000/v1 (default: $FINE_PYTEST_BASE_URL, $OPENAI_BASE_URL).",
    metavar="URL",
)
API_KEY_ENV = Option(
    ("--fine-api-key-env",),
    "fine_api_key_env",
    "Environment variable that holds the server's API key (default OPENAI_API_KEY); the key itself is never an option.",
    environment_name,
    "NAME",
)
CONCURRENCY = Option(
    ("--fine-concurrency",),
    "fine_concurrency",
    f"Requests in flight at once to a served model (default {Endpoint.concurrency}).",
    positive_int,
    "N",
)
TIMEOUT = Option(
    ("--fine-timeout",),
    "fine_timeout",
    f"Seconds to wait for one response from a served model (default {Endpoint.timeout:g}).",
    seconds,
    "S",
)
CONNECT_TIMEOUT = Option(
    ("--fine-connect-timeout",),
    "fine_connect_timeout",
    f"Seconds to wait for a connection to a served model (default {Endpoint.connect_timeout:g}).",
    seconds,
    "S",
)
RETRIES = Option(
    ("--fine-retries",),
    "fine_retries",
    f"Retries of a request after 429, 5xx, a timeout or a dropped connection, with exponential backoff "
    f"(default {Endpoint.retries}).",
    count,
    "N",
)

OPTIONS = (
    MODEL,
    JUDGE,
    JUDGE_FORMAT,
    JUDGE_SCORING,
    JUDGE_CALIBRATION,
    DATASET,
    THRESHOLD,
    MIN_CS,
    MIN_CSS,
    MIN_ROBUST_CSS,
    FORMS,
    FORMS_EXAMPLES,
    FORMS_BUDGET,
    STRICT,
    REPORT,
    HTML,
    SUMMARY,
    BASELINE,
    MAX_REGRESSIONS,
    FAIL_ON_DROP,
    EXPORT_REQUESTS,
    IMPORT_RESPONSES,
    BATCH_MODEL,
    MAX_TOKENS,
    MC_MAX_TOKENS,
    MC_QUESTION,
    MC_SCORING,
    TEMPERATURE,
    SEED,
    MODEL_ARG,
    ENGINE_ARG,
    SHOW,
    CACHE_DIR,
    NO_CACHE,
    CHUNK_SIZE,
    SHARD,
    DEVICES,
    BASE_URL,
    API_KEY_ENV,
    CONCURRENCY,
    TIMEOUT,
    CONNECT_TIMEOUT,
    RETRIES,
)

# --fine-model-arg keys of an openai: model, and the flags they are aliases of.
ENDPOINT_OPTIONS = {
    "base_url": BASE_URL,
    "api_key_env": API_KEY_ENV,
    "concurrency": CONCURRENCY,
    "timeout": TIMEOUT,
    "connect_timeout": CONNECT_TIMEOUT,
    "retries": RETRIES,
}

CATEGORY_MIN_CS = Option(
    ("--fine-category-min-cs",),
    "fine_category_min_cs",
    "Gate: per-category minimum CS; NAME=X, repeatable",
    category_minimum,
    "NAME=X",
    action="append",
)
CATEGORY_MIN_CSS = Option(
    ("--fine-category-min-css",),
    "fine_category_min_css",
    "Gate: per-category minimum CSS; NAME=X, repeatable",
    category_minimum,
    "NAME=X",
    action="append",
)
CATEGORY_MINIMUMS = (CATEGORY_MIN_CS, CATEGORY_MIN_CSS)
# What `fine-pytest merge` takes: the gate and report options, the same flags with the same parsers as the plugin's.
MERGE_OPTIONS = (
    THRESHOLD,
    MIN_CS,
    MIN_CSS,
    MIN_ROBUST_CSS,
    *CATEGORY_MINIMUMS,
    SHOW,
    BASELINE,
    MAX_REGRESSIONS,
    FAIL_ON_DROP,
    HTML,
    SUMMARY,
)


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup(GROUP, "FINE fake-alignment evaluation (fine-pytest)")
    add_arguments(group.addoption, OPTIONS)
    for option in OPTIONS:
        if option.action == "store_true":
            parser.addini(option.ini, f"Default for {option.flag}.", type="bool", default=False)
        elif option.action == "append":
            where = " (relative to the ini file)" if option is DATASET else ""
            parser.addini(option.ini, f"Default for {option.flag}, one per line{where}.", type="linelist")
        else:
            parser.addini(option.ini, f"Default for {option.flag}.", type="string", default="")
    for option in CATEGORY_MINIMUMS:  # ini only in the plugin; merge takes them as flags
        parser.addini(option.ini, f"{option.help.split(';')[0]}, one 'Category = X' per line.", type="linelist")


def generation_settings(reader: _Reader, temperature: float, seed: int | None) -> GenerationSettings:
    """Budgets and stops follow the MC reading: the declaration alone stops at its closing brackets; a free answer
    before a commitment runs to its end."""
    return GenerationSettings.default(
        reader.value(MC_SCORING, DEFAULT_MC_METHOD),
        max_tokens=reader.value(MAX_TOKENS),
        mc_max_tokens=reader.value(MC_MAX_TOKENS),
        temperature=temperature,
        seed=seed,
        mc_question=reader.value(MC_QUESTION, DEFAULT_MC_QUESTION),
    )


def read_settings(config: pytest.Config) -> Settings:
    """Resolve every option from the command line, then the ini file, then the default; raise UsageError."""
    reader = _Reader(config)
    threshold = reader.value(THRESHOLD)
    min_cs = reader.value(MIN_CS)
    min_css = reader.value(MIN_CSS)
    chosen_seed = reader.value(SEED, 0)
    seed = None if chosen_seed == NO_SEED else chosen_seed
    chosen_temperature = reader.value(TEMPERATURE, 0.0)
    report = reader.path(REPORT)
    settings = Settings(
        model=reader.value(MODEL),
        judge=reader.value(JUDGE, DEFAULT_JUDGE),
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
        ),
        forms=FormSettings(
            families=reader.value(FORMS, ()),
            examples=reader.value(FORMS_EXAMPLES, DEFAULT_EXAMPLES),
            budget=reader.value(FORMS_BUDGET, DEFAULT_BUDGET),
            seed=seed if seed is not None else 0,
        ),
        strict=bool(reader.value(STRICT, False)),
        report=report,
        generation=generation_settings(reader, chosen_temperature, seed),
        show=reader.value(SHOW, DEFAULT_SHOW),
        engine_args=reader.engine_args(ENGINE_ARG),
        cache_dir=reader.path(CACHE_DIR),
        no_cache=bool(reader.value(NO_CACHE, False)),
        chunk_size=reader.value(CHUNK_SIZE, DEFAULT_CHUNK),
        shard=reader.value(SHARD),
        devices=reader.value(DEVICES, ()),
        judge_format=reader.value(JUDGE_FORMAT),
        html=reader.path(HTML),
        summary=reader.path(SUMMARY),
        baseline=reader.path(BASELINE),
        judge_calibration=reader.path(JUDGE_CALIBRATION),
        export_requests=reader.path(EXPORT_REQUESTS),
        import_responses=reader.path(IMPORT_RESPONSES),
        batch_model=reader.value(BATCH_MODEL, None),
        judge_scoring=reader.value(JUDGE_SCORING, DEFAULT_MC_METHOD),
        endpoint=Endpoint(
            base_url=reader.value(BASE_URL),
            api_key_env=reader.value(API_KEY_ENV, Endpoint.api_key_env),
            concurrency=reader.value(CONCURRENCY, Endpoint.concurrency),
            timeout=reader.value(TIMEOUT, Endpoint.timeout),
            connect_timeout=reader.value(CONNECT_TIMEOUT, Endpoint.connect_timeout),
            retries=reader.value(RETRIES, Endpoint.retries),
        ),
    )
    settings = _with_model_args(settings, reader)
    if settings.thresholds.min_robust_css is not None and not settings.forms:
        raise pytest.UsageError(
            f"{MIN_ROBUST_CSS.flag} gates on the consistency forms: name them with {FORMS.flag}=labels,single,..."
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


def _with_model_args(settings: Settings, reader: _Reader) -> Settings:
    """Apply --fine-model-arg: each KEY=VALUE goes where the model's back end takes it. The older per-back-end flags
    (--fine-engine-arg, --fine-base-url, --fine-concurrency, ...) stay as aliases. Given in the same place (both on
    the command line, or both in the ini file) the two may agree, never differ; the command line wins over the ini."""
    lines, where = reader.lines(MODEL_ARG)
    if not lines:
        return settings
    on_command_line = reader.given(MODEL_ARG)
    given: dict[str, str] = {}
    for line in lines:
        try:
            key, raw = key_value(line)
        except argparse.ArgumentTypeError as error:
            raise pytest.UsageError(f"{where}: {error}") from None
        if key in given:
            raise pytest.UsageError(f"{where}: {key} is given twice")
        given[key] = raw
    try:
        scheme = backends.split_spec(settings.model_spec)[0]
    except FineError:
        return settings  # the spec's own error is reported before any model work (Evaluation.check_specs)
    if scheme == "vllm":
        engine = dict(settings.engine_args)
        alias_on_command_line = reader.given(ENGINE_ARG)
        for key, raw in given.items():
            value = engine_setting(f"{key}={raw}")[1]
            if key in engine and engine[key] != value:
                if alias_on_command_line == on_command_line:
                    raise pytest.UsageError(f"{where}: {key}={raw} contradicts {ENGINE_ARG.flag}={key}={engine[key]}")
                if alias_on_command_line:
                    continue  # the command line wins over the ini file
            engine[key] = value
        return replace(settings, engine_args=engine)
    if scheme != "openai":
        raise pytest.UsageError(f"{where}: a {scheme}: model takes no settings ({', '.join(given)} given)")
    unknown = sorted(set(given) - set(ENDPOINT_OPTIONS))
    if unknown:
        raise pytest.UsageError(
            f"{where}: an openai: model has no setting {unknown[0]!r} (it takes {', '.join(ENDPOINT_OPTIONS)})"
        )
    changes: dict[str, Any] = {}
    for key, raw in given.items():
        option = ENDPOINT_OPTIONS[key]
        try:
            value = option.parse(raw)
        except argparse.ArgumentTypeError as error:
            raise pytest.UsageError(f"{where}: {key}: {error}") from None
        alias = reader.value(option)
        if alias is not None and alias != value:
            if reader.given(option) == on_command_line:
                raise pytest.UsageError(f"{where}: {key}={raw} contradicts {option.flag}={alias}")
            if reader.given(option):
                continue  # the command line wins over the ini file
        changes[key] = value
    return replace(settings, endpoint=replace(settings.endpoint, **changes))


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

    def value(self, option: Option, default: Any = None) -> Any:
        if option.action == "store_true":
            return self.flag(option)
        given = self.config.getoption(option.ini)
        if given is not None:
            return given
        raw = self.config.getini(option.ini)
        if raw in ("", None):
            return default
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
