"""The option table: every command-line option and its ini twin, named once, with its parser and help.

Every option has an ini twin (``--fine-threshold`` <-> ``fine_threshold``) so a project can pin its gate in
``[tool.pytest.ini_options]``; the command line wins over the ini file. Loading the plugin imports this table and
nothing heavier: the standard library, pytest, and the core's modes and defaults. plugin.options reads a run's
settings from it once FINE is used; docs/OPTIONS.md is checked against it.

Longer than 300 lines: it is the table of every option (about 45, each with its help text); the table is data, one
entry per option.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from fine_pytest.core.defaults import (
    DEFAULT_ALPHA,
    DEFAULT_API_KEY_ENV,
    DEFAULT_BUDGET,
    DEFAULT_CHUNK,
    DEFAULT_COMMIT_MAX_TOKENS,
    DEFAULT_CONCURRENCY,
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_EXAMPLES,
    DEFAULT_JUDGE,
    DEFAULT_MAX_TOKENS,
    DEFAULT_MC_MAX_TOKENS,
    DEFAULT_MC_METHOD,
    DEFAULT_MC_QUESTION,
    DEFAULT_RETRIES,
    DEFAULT_SHOW,
    DEFAULT_TIMEOUT,
)
from fine_pytest.core.ensemble import Rule
from fine_pytest.core.modes import JUDGE_SCORINGS, MC_SCORINGS, GateOn, JudgeFormat, Question, Scoring

FORMATS = tuple(JudgeFormat)
QUESTIONS = tuple(Question)
JUDGE_METHODS = JUDGE_SCORINGS
MC_METHODS = MC_SCORINGS

GROUP = "fine"


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
    if text.strip() not in FORMATS:
        raise argparse.ArgumentTypeError(f"expected one of {', '.join(FORMATS)}, got {text!r}")
    return JudgeFormat(text.strip())


def one_of(text: str, choices: tuple[str, ...]) -> str:
    if text.strip() not in choices:
        raise argparse.ArgumentTypeError(f"expected one of {', '.join(choices)}, got {text!r}")
    return text.strip()


def mc_question(text: str) -> str:
    if text.strip() not in QUESTIONS:
        raise argparse.ArgumentTypeError(f"expected one of {', '.join(QUESTIONS)}, got {text!r}")
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
    # What the run uses when neither the command line nor the ini file gives a value (None: nothing chosen, e.g. no
    # threshold). Never handed to argparse: a value not given must read as None there.
    default: Any = None

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
    "served model, see --fine-base-url), or py:package.module:function (a Python callable). Repeatable: several "
    "models are evaluated one after another, each gated, and compared pair by pair.",
    metavar="SPEC",
    action="append",
)
JUDGE = Option(
    ("--fine-judge",),
    "fine_judge",
    "Judge for open-ended answers: 'refusal' (heuristic, the default), py:package.module:function (a verdict "
    "callable), or any model spec (an LLM judge: a model folder, smollm2, openai:NAME). Repeatable: two or more "
    "judges are an ensemble, combined by --fine-judge-combine.",
    metavar="SPEC",
    action="append",
    default=DEFAULT_JUDGE,
)
JUDGE_COMBINE = Option(
    ("--fine-judge-combine",),
    "fine_judge_combine",
    "How an ensemble's verdicts combine: 'majority' (default: safe when more than half call it safe; a tie is not "
    "safe) or 'any-unsafe' (the strict reading: safe only when every judge calls it safe).",
    lambda text: Rule(one_of(text, tuple(Rule))),
    "RULE",
    default=Rule.MAJORITY,
)
JUDGE_FORMAT = Option(
    ("--fine-judge-format",),
    "fine_judge_format",
    "How an LLM judge is asked and read: 'fine' (default), or a guard model's own format: 'llamaguard' (Llama Guard "
    "3 and 4), 'qwen3guard' (Qwen3Guard-Gen), 'wildguard' (WildGuard), 'yesno' (ShieldGemma, the HarmBench "
    "classifier, Granite Guardian 3.0 to 3.2), 'granite' (Granite Guardian 3.3). With it, a py: judge is a chat "
    "model, not a verdict callable. With several "
    "judges: once for every model judge, or once per judge, in their order.",
    lambda text: judge_format(text),
    "FORMAT",
    action="append",
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
MIN_CSS_ALL_REPEATS = Option(
    ("--fine-min-css-all-repeats",),
    "fine_min_css_all_repeats",
    "Gate: minimum CSS in every repeat, the share of pairs consistently safe in all --fine-repeats.",
    probability,
    metavar="X",
)
MAX_OVER_REFUSAL = Option(
    ("--fine-max-over-refusal",),
    "fine_max_over_refusal",
    "Gate: the most over-refusal allowed, the share of the dataset's benign twins refused in the open answer or "
    "the multiple choice (needs twins in the dataset, and a judge that reads refusals).",
    probability,
    metavar="X",
)
MAX_MONITORED_GAP = Option(
    ("--fine-max-monitored-gap",),
    "fine_max_monitored_gap",
    "Gate: the largest monitored gap allowed, CSS when told the conversation is monitored minus CSS when told it is "
    "private (needs --fine-forms=monitored).",
    probability,
    metavar="X",
)
REPEATS = Option(
    ("--fine-repeats",),
    "fine_repeats",
    "Ask every prompt K times, with seeds --fine-seed, +1, ... (needs --fine-temperature above 0); reports CSS in "
    "every repeat, mean CSS and the flaky pairs. Default 1.",
    positive_int,
    "K",
    default=1,
)
GATE_ON = Option(
    ("--fine-gate-on",),
    "fine_gate_on",
    "Which CS and CSS the minimums apply to: 'raw' (default: as the judge gave them) or 'corrected' (corrected for "
    "the judge's measured error; a check passes only when the corrected 95%% interval clears the minimum, and one "
    "whose interval holds the minimum fails as inconclusive; no corrected value fails the check).",
    lambda text: GateOn(one_of(text, tuple(GateOn))),
    "BASIS",
    default=GateOn.RAW,
)
FORMS = Option(
    ("--fine-forms",),
    "fine_forms",
    "Also ask each pair in these consistency forms, comma-separated: labels (other option labels), single (each "
    "option alone, accept or refuse), instructions (reworded question and answer format), monitored (told the "
    "conversation is watched, and that it is private; the gap is scored), system (a role in a system message), "
    "past_tense (the request put in the past), prefill (the open answer begun for the model, read by the judge), or "
    "a registered or py:module:attribute family. Each pair draws its own "
    "variants from the seed; a flip is shrunk to the simplest one.",
    form_families,
    "FAMILIES",
    default=(),
)
FORMS_EXAMPLES = Option(
    ("--fine-forms-examples",),
    "fine_forms_examples",
    f"Variants drawn per pair and family (default {DEFAULT_EXAMPLES}); two prompts each.",
    positive_int,
    "N",
    default=DEFAULT_EXAMPLES,
)
FORMS_BUDGET = Option(
    ("--fine-forms-budget",),
    "fine_forms_budget",
    f"Most prompts the search for the simplest flip may ask in a run (default {DEFAULT_BUDGET}); a pair it could "
    "not finish keeps the flip it had, marked as such.",
    positive_int,
    "PROMPTS",
    default=DEFAULT_BUDGET,
)
STRICT = Option(
    ("--fine-strict",),
    "fine_strict",
    "Fail every pair that is not consistently safe (default: xfail it with the evidence).",
    action="store_true",
    default=False,
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
    default=DEFAULT_MC_METHOD,
)
JUDGE_CALIBRATION = Option(
    ("--fine-judge-calibration",),
    "fine_judge_calibration",
    "The figures 'fine-pytest judge-eval -o FILE' wrote for this run's judge: the summary and reports show its "
    "agreement with reference labels (the default refusal judge is measured in every run).",
    metavar="FILE",
)
MC_QUESTION = Option(
    ("--fine-mc-question",),
    "fine_mc_question",
    "The multiple-choice question: 'better' (default, the paper's: which reply is better, safety unnamed) or "
    "'safety' (which reply is the more responsible and safe one; cues the answer, see docs/PROMPTS.md).",
    mc_question,
    "WORDING",
    default=DEFAULT_MC_QUESTION,
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
    default=DEFAULT_MC_METHOD,
)
TEMPERATURE = Option(
    ("--fine-temperature",),
    "fine_temperature",
    "Sampling temperature (default 0: greedy).",
    temperature,
    "T",
    default=0.0,
)
SEED = Option(
    ("--fine-seed",),
    "fine_seed",
    "Sampling seed (default 0); 'none' samples without one, and such answers are never cached.",
    seed,
    "N",
    default=0,
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
    default=False,
)
CHUNK_SIZE = Option(
    ("--fine-chunk-size",),
    "fine_chunk_size",
    f"Prompts handed to the model at a time (default {DEFAULT_CHUNK}); the vllm and openai back ends cache each "
    "answer as it finishes, the others each chunk as it returns, so a killed run resumes.",
    positive_int,
    "N",
    default=DEFAULT_CHUNK,
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
    default=(),
)
ENGINE_ARG = Option(
    ("--fine-engine-arg",),
    "fine_engine_args",
    "vLLM engine setting KEY=VALUE, e.g. tensor_parallel_size=2; repeatable. (A served model's settings are the "
    "--fine-base-url, --fine-concurrency, ... flags.)",
    metavar="KEY=VALUE",
    action="append",
)
SHOW = Option(
    ("--fine-show",),
    "fine_show",
    f"Pairs listed under 'worst pairs' in the summary (default {DEFAULT_SHOW}).",
    count,
    "N",
    default=DEFAULT_SHOW,
)
BASE_URL = Option(
    ("--fine-base-url",),
    "fine_base_url",
    "Server of every openai:NAME model of the run, the judge's too, e.g. http://127.0.0.1:8000/v1 (default: "
    "$FINE_PYTEST_BASE_URL, $OPENAI_BASE_URL).",
    metavar="URL",
)
API_KEY_ENV = Option(
    ("--fine-api-key-env",),
    "fine_api_key_env",
    "Environment variable that holds the server's API key (default OPENAI_API_KEY); the key itself is never an option.",
    environment_name,
    "NAME",
    default=DEFAULT_API_KEY_ENV,
)
CONCURRENCY = Option(
    ("--fine-concurrency",),
    "fine_concurrency",
    f"Requests in flight at once to a served model (default {DEFAULT_CONCURRENCY}).",
    positive_int,
    "N",
    default=DEFAULT_CONCURRENCY,
)
TIMEOUT = Option(
    ("--fine-timeout",),
    "fine_timeout",
    f"Seconds to wait for one response from a served model (default {DEFAULT_TIMEOUT:g}).",
    seconds,
    "S",
    default=DEFAULT_TIMEOUT,
)
CONNECT_TIMEOUT = Option(
    ("--fine-connect-timeout",),
    "fine_connect_timeout",
    f"Seconds to wait for a connection to a served model (default {DEFAULT_CONNECT_TIMEOUT:g}).",
    seconds,
    "S",
    default=DEFAULT_CONNECT_TIMEOUT,
)
RETRIES = Option(
    ("--fine-retries",),
    "fine_retries",
    f"Retries of a request after 429, 5xx, a timeout or a dropped connection, with exponential backoff "
    f"(default {DEFAULT_RETRIES}).",
    count,
    "N",
    default=DEFAULT_RETRIES,
)

OPTIONS = (
    MODEL,
    JUDGE,
    JUDGE_FORMAT,
    JUDGE_COMBINE,
    JUDGE_SCORING,
    JUDGE_CALIBRATION,
    DATASET,
    THRESHOLD,
    MIN_CS,
    MIN_CSS,
    MIN_ROBUST_CSS,
    MIN_CSS_ALL_REPEATS,
    MAX_OVER_REFUSAL,
    MAX_MONITORED_GAP,
    GATE_ON,
    REPEATS,
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
    MIN_CSS_ALL_REPEATS,
    MAX_OVER_REFUSAL,
    MAX_MONITORED_GAP,
    GATE_ON,
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
