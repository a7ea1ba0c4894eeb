"""Model back ends behind a small registry.

A back end turns a list of chat conversations, each with its own sampling settings, into a list of answers, in one
batched call: open answers and multiple-choice answers go in together, so the engine schedules all of them at once
(a short MC answer finishes and frees its slot while long open answers still run). Each back end lives in
its own module and is imported only when a spec selects it, so loading the plugin never imports vllm, torch or
transformers.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from fine_pytest.core.errors import FineError

Conversation = list[dict[str, str]]


@dataclass(frozen=True)
class Sampling:
    """Generation settings for one prompt. Greedy (temperature 0) with a fixed seed by default."""

    max_tokens: int
    temperature: float = 0.0
    seed: int | None = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class PromptFailure:
    """A prompt the back end could not answer (e.g. longer than the context); its pair fails, the run goes on."""

    reason: str


@dataclass(frozen=True)
class Truncated:
    """An answer the token budget cut short (finish reason "length"): recorded as such, and read with care."""

    text: str


Answer = str | Truncated | PromptFailure
# How many of the most likely next tokens a back end asks for when it scores the answer letters.
TOP_LOGPROBS = 20


@dataclass(frozen=True)
class LetterScores:
    """The probability of each answer letter as the next token; the rest of the mass went to other tokens."""

    probabilities: Mapping[str, float]

    @property
    def other(self) -> float:
        return max(0.0, 1.0 - sum(self.probabilities.values()))


def letter_mass(top: Sequence[tuple[str, float]], letters: Sequence[str]) -> LetterScores:
    """Sum the probabilities of the top tokens that read as each label; every other token, and all the mass outside
    the top list, is "other", so a back end that lists few tokens can only lower the labels' share.

    A one-character label (an answer letter) is matched exactly ("A", " A"). A word label (a judge's "safe",
    "unsafe") may span several tokens, so a token counts for it when, lower-cased, it begins that word and no other
    ("S", "safe", "un", "Uns"); a token that could begin either word counts for neither.
    """
    import math

    totals = dict.fromkeys(letters, 0.0)
    for token, logprob in top:
        text = token.strip()
        if not text or not math.isfinite(logprob):
            continue
        if text in totals and len(text) == 1:
            totals[text] += math.exp(logprob)
            continue
        begun = [label for label in letters if len(label) > 1 and label.lower().startswith(text.lower())]
        if len(begun) == 1:
            totals[begun[0]] += math.exp(logprob)
    return LetterScores({letter: min(1.0, value) for letter, value in totals.items()})


class ScoresLetters(Protocol):
    """A back end that can read the probability of each answer letter (``--fine-mc-scoring=logprob``).

    Each conversation ends with an assistant turn holding the opening of the answer format ("Option: [["); the back
    end continues that turn by one token and returns the letters' probabilities there, or a failure per prompt.
    With ``continue_final=False`` (an LLM judge, whose reply opens with its verdict) the reply's first token is read.
    """

    def score_letters(
        self, conversations: Sequence[Conversation], letters: Sequence[str], continue_final: bool = True
    ) -> list[LetterScores | PromptFailure]: ...


def text_of(answer: str | Truncated) -> str:
    return answer.text if isinstance(answer, Truncated) else answer


class PartialAnswers(FineError):
    """A batch broke off (a server went away): the error, with the answers that did come back, by position."""

    def __init__(self, message: str, answers: Mapping[int, Answer | LetterScores]) -> None:
        super().__init__(message)
        self.answers = dict(answers)


class InterruptedAnswers(KeyboardInterrupt):
    """An interrupt (Ctrl-C, or a CI cancel's SIGTERM) during a batch, with the answers that were already back, by
    position: the caller caches them before the interrupt goes on, so a re-run asks only for the rest."""

    def __init__(self, message: str, answers: Mapping[int, Answer | LetterScores]) -> None:
        super().__init__(message)
        self.answers = dict(answers)


@dataclass(frozen=True)
class Endpoint:
    """How to reach a served model (the openai: back end); every limit is an option (see the README)."""

    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    concurrency: int = 8
    timeout: float = 120.0  # seconds to wait for one response
    connect_timeout: float = 10.0
    retries: int = 4
    backoff: float = 0.5  # the first retry comes after about this many seconds, doubling each time
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelContext:
    """Run settings a back end may use: engine settings (--fine-engine-arg), the endpoint settings of served
    models, and pytest's verbosity."""

    engine_args: Mapping[str, Any] = field(default_factory=dict)
    verbose: int = 0
    endpoint: Endpoint = field(default_factory=Endpoint)


class Model(Protocol):
    """What a back end provides. ``name`` identifies it in reports."""

    name: str

    def generate(self, conversations: Sequence[Conversation], samplings: Sequence[Sampling]) -> list[Answer]: ...

    def close(self) -> None: ...


# scheme -> "module:factory"; the factory takes the rest of the spec and returns a Model. The module also defines
# identity(rest, option, context, memo) for cache keys, and may define check(rest, option, run_user_code) to
# validate a spec cheaply before collection.
_REGISTRY: dict[str, str] = {
    "py": "fine_pytest.backends.python:PythonModel",
    "vllm": "fine_pytest.backends.vllm:VllmModel",
    "openai": "fine_pytest.backends.openai:OpenAIModel",
}


def available() -> list[str]:
    return sorted(_REGISTRY)


def split_spec(spec: str, option: str = "--model") -> tuple[str, str]:
    """``scheme:rest`` for a known scheme; a local path or an embedded model name goes to vLLM."""
    from fine_pytest.backends.embedded import EMBEDDED
    from fine_pytest.backends.vllm import is_model_path

    scheme, sep, rest = spec.partition(":")
    if sep and scheme in _REGISTRY:
        return scheme, rest
    if spec in EMBEDDED or is_model_path(spec):
        return "vllm", spec
    known = ", ".join([f"{name}:..." for name in available()] + sorted(EMBEDDED) + ["a model folder or .gguf file"])
    raise FineError(f"{option}: no back end for '{spec}' (available: {known})")


def check_spec(spec: str, option: str = "--model", run_user_code: bool = False) -> None:
    """Validate a spec without loading a model: a clear error now beats one later.

    User code (a py: module) is imported only with ``run_user_code``, i.e. once a run is known to need it.
    """
    scheme, rest = split_spec(spec, option)
    module = importlib.import_module(_REGISTRY[scheme].partition(":")[0])
    check = getattr(module, "check", None)
    if check is not None:
        check(rest, option, run_user_code)


def identity(spec: str, option: str = "--model", context: ModelContext | None = None, memo: Any = None) -> Any:
    """What a model's answers depend on, cheap to compute (no engine start): part of every cache key."""
    scheme, rest = split_spec(spec, option)
    module = importlib.import_module(_REGISTRY[scheme].partition(":")[0])
    return {"backend": scheme, **module.identity(rest, option, context or ModelContext(), memo)}


def load_model(spec: str, option: str = "--model", context: ModelContext | None = None) -> Model:
    scheme, rest = split_spec(spec, option)
    module_name, _, factory_name = _REGISTRY[scheme].partition(":")
    factory = getattr(importlib.import_module(module_name), factory_name)
    model: Model = factory(rest, option=option, context=context or ModelContext())
    return model
