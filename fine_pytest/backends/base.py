"""What every back end speaks: conversations in, answers out, and the settings a back end is given.

The registry (fine_pytest.backends) names the back ends; each back-end module imports its types from here, so a
back end never imports the registry that imports it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, runtime_checkable

from fine_pytest.core import defaults
from fine_pytest.core.errors import FineError
from fine_pytest.core.sampling import Sampling

Conversation = list[dict[str, str]]
T = TypeVar("T")


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
    "unsafe"; a form's "Alpha", "yes") may span several tokens, so a token of two characters or more counts for it
    when, lower-cased, it begins that word and no other ("safe", "un", "Uns", "Al"); a token that could begin either
    word counts for neither. A single character never counts for a word: "A" could be the paper's letter under the
    labels Alpha/Beta, and "N" the start of "N/A".
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
        begun = [
            label for label in letters if len(label) > 1 and len(text) > 1 and label.lower().startswith(text.lower())
        ]
        if len(begun) == 1:
            totals[begun[0]] += math.exp(logprob)
    return LetterScores({letter: min(1.0, value) for letter, value in totals.items()})


@runtime_checkable
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


Streamed = Iterator[list[tuple[int, T]]]


def collected(stream: Streamed[T], count: int, each: Callable[[list[tuple[int, T]]], None] | None = None) -> list[T]:
    """A stream of answers (batches of position and answer, as a back end finishes them) as one list in prompt
    order; ``each`` sees every batch as it comes. A break or an interrupt carries the answers already back."""
    answers: dict[int, T] = {}
    try:
        for batch in stream:
            _refuse_stray(batch, answers, count)
            if each is not None:
                each(batch)
            answers.update(batch)
    except PartialAnswers as broken:
        raise PartialAnswers(str(broken), {**answers, **broken.answers}) from None  # type: ignore[dict-item]
    except KeyboardInterrupt as stop:
        earlier = getattr(stop, "answers", {})
        raise InterruptedAnswers(str(stop), {**answers, **earlier}) from stop  # type: ignore[dict-item]
    finally:
        # A stream left behind by an error here (the caller could not store a batch) stops now, not when it is
        # collected: an engine aborts its queue, a server gets no more requests.
        close = getattr(stream, "close", None)
        if close is not None:
            close()
    missing = [index for index in range(count) if index not in answers]
    if missing or len(answers) != count:
        raise FineError(f"the back end answered {len(answers)} of {count} prompts (first missing: {missing[:1]})")
    return [answers[index] for index in range(count)]


def _refuse_stray(batch: list[tuple[int, T]], answers: dict[int, T], count: int) -> None:
    """Refuse a batch before anything of it is stored: a position outside the prompts, or one already answered
    (the cache would keep the first answer and the list the last, so the run could judge one and report another)."""
    seen: set[int] = set()
    for position, _ in batch:
        if not isinstance(position, int) or isinstance(position, bool) or not 0 <= position < count:
            raise FineError(f"the back end answered a prompt this run did not ask: position {position!r} of {count}")
        if position in answers or position in seen:
            raise FineError(f"the back end answered prompt {position} twice")
        seen.add(position)


@runtime_checkable
class StreamsAnswers(Protocol):
    """A back end that gives each answer as it finishes, so the caller stores it at once: a killed run then loses
    only the prompts in flight. ``generate`` stays, as the whole list."""

    def generate_stream(
        self, conversations: Sequence[Conversation], samplings: Sequence[Sampling]
    ) -> Streamed[Answer]: ...


@runtime_checkable
class StreamsScores(Protocol):
    """``StreamsAnswers`` for letter probabilities: each prompt's scores as they finish."""

    def score_stream(
        self, conversations: Sequence[Conversation], letters: Sequence[str], continue_final: bool = True
    ) -> Streamed[LetterScores | PromptFailure]: ...


@dataclass(frozen=True)
class Endpoint:
    """How to reach a served model (the openai: back end); every limit is an option (see the README)."""

    base_url: str | None = None
    api_key_env: str = defaults.DEFAULT_API_KEY_ENV
    concurrency: int = defaults.DEFAULT_CONCURRENCY
    timeout: float = defaults.DEFAULT_TIMEOUT  # seconds to wait for one response
    connect_timeout: float = defaults.DEFAULT_CONNECT_TIMEOUT
    retries: int = defaults.DEFAULT_RETRIES
    backoff: float = 0.5  # the first retry comes after about this many seconds, doubling each time


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
