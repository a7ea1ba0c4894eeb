"""The ``py:`` back end: a user's Python callable is the model (guarded pipelines, rule systems, test doubles)."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

from fine_pytest.backends.base import Answer, Conversation, LetterScores, ModelContext, PromptFailure, Truncated
from fine_pytest.backends.user_code import call_user_code, check_reference, import_reference, reference_identity
from fine_pytest.core.errors import FineError
from fine_pytest.core.fingerprint import DigestMemo
from fine_pytest.core.sampling import Sampling

# The optional attribute of a py: model that scores answer letters (--fine-mc-scoring=logprob).
LETTER_PROBABILITIES = "letter_probabilities"
# The optional attribute (true) of a py: model that continues a reply begun for it: a conversation may end with an
# assistant turn, and the answer returned is what follows that turn's text (--fine-forms=prefill).
CONTINUES_REPLIES = "continues_replies"


def check(reference: str, option: str, run_user_code: bool) -> None:
    if run_user_code:
        import_reference(reference, option)
    else:
        check_reference(reference, option)


def identity(reference: str, option: str, context: ModelContext, memo: DigestMemo | None = None) -> dict[str, Any]:
    # A callable that takes no seed cannot reproduce a sampled answer: such answers are never reused.
    accepted = _accepted_keywords(import_reference(reference, option))
    return {**reference_identity(reference, option), "seeded": accepted is None or "seed" in accepted}


class PythonModel:
    """Calls ``function(conversations, max_tokens=..., temperature=..., seed=...)`` once per distinct sampling (and
    ``stop=[...]`` when the function has a parameter of that name).

    A plain function takes one set of keywords, so a mixed batch is split by sampling settings: a FINE run makes two
    calls, one with every open prompt and one with every multiple-choice prompt (a single call when both kinds use
    the same settings).
    """

    def __init__(self, reference: str, option: str = "--model", context: ModelContext | None = None) -> None:
        self.name = f"py:{reference}"
        self._option = option
        self._function: Callable[..., Any] = import_reference(reference, option)
        self._accepted = _accepted_keywords(self._function)

    def generate(self, conversations: Sequence[Conversation], samplings: Sequence[Sampling]) -> list[Answer]:
        groups: dict[Sampling, list[int]] = {}
        for index, sampling in enumerate(samplings):
            groups.setdefault(sampling, []).append(index)
        answers: list[Answer] = [""] * len(conversations)
        for sampling, indices in groups.items():
            # Copies, so a callable that edits its input cannot change what later stages see.
            batch = [[dict(message) for message in conversations[i]] for i in indices]
            keywords = {key: value for key, value in sampling.to_dict().items() if self._accepts(key)}
            returned = call_user_code(self._function, self.name, self._option, batch, **keywords)
            returned = check_answers(self.name, returned, len(batch), self._option)
            for index, answer in zip(indices, returned, strict=True):
                answers[index] = answer
        return answers

    def score_letters(
        self, conversations: Sequence[Conversation], letters: Sequence[str], continue_final: bool = True
    ) -> list[LetterScores | PromptFailure]:
        """``function.letter_probabilities(conversations, letters)`` returns, per conversation, a dict from each
        letter to its probability as the next token of the final (assistant) turn; what is missing is "other"."""
        scorer = letter_scorer(self._function, self.name, self._option)
        batch = [[dict(message) for message in conversation] for conversation in conversations]
        returned = call_user_code(scorer, self.name, self._option, batch, tuple(letters))
        if (
            isinstance(returned, (str, bytes, dict))
            or not isinstance(returned, Sequence)
            or len(returned) != len(batch)
        ):
            raise FineError(
                f"{self._option}: {self.name}.{LETTER_PROBABILITIES} must return one dict per conversation "
                f"({len(batch)}), got {type(returned).__name__}"
            )
        return [
            _letter_scores(self.name, item, letters, position, self._option) for position, item in enumerate(returned)
        ]

    def close(self) -> None:
        pass

    def _accepts(self, keyword: str) -> bool:
        # Stop strings go only to a function that names a ``stop`` parameter: the product cuts every reply at the
        # same boundary anyway, and a function written for the three sampling keywords keeps working.
        if keyword == "stop":
            return self._accepted is not None and "stop" in self._accepted
        if keyword == "continue_reply":
            return False  # the conversation says it: it ends with the assistant's begun turn
        return self._accepted is None or keyword in self._accepted


def letter_scorer(function: Callable[..., Any], name: str, option: str) -> Callable[..., Any]:
    scorer: Callable[..., Any] | None = getattr(function, LETTER_PROBABILITIES, None)
    if scorer is None or not callable(scorer):
        raise FineError(
            f"--fine-mc-scoring=logprob: {name} cannot give log-probabilities: give the function an attribute "
            f"'{LETTER_PROBABILITIES}' (see the README), or use --fine-mc-scoring=generate"
        )
    return scorer


def check_continues(reference: str, option: str, families: str) -> None:
    """A py: model is given begun replies only when it says it continues them: a function written for fresh
    questions would answer the conversation anew, and its answer would be judged as the continuation."""
    function = import_reference(reference, option)
    if getattr(function, CONTINUES_REPLIES, False) is not True:
        raise FineError(
            f"--fine-forms={families} begins the model's reply for it, and py:{reference} does not say it can "
            f"continue one: set its attribute '{CONTINUES_REPLIES}' to True once it continues a conversation that "
            "ends with an assistant turn (see docs/FORMS.md), or leave that family out"
        )


def check_letter_scores(reference: str, option: str) -> None:
    letter_scorer(import_reference(reference, option), f"py:{reference}", option)


def _letter_scores(name: str, item: Any, letters: Sequence[str], position: int, option: str) -> LetterScores:
    if not isinstance(item, dict) or set(item) - set(letters):
        raise FineError(
            f"{option}: {name}.{LETTER_PROBABILITIES} returned {item!r:.60} at position {position}: expected a dict "
            f"from the letters {list(letters)} to probabilities"
        )
    values = {}
    for letter, value in item.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
            raise FineError(
                f"{option}: {name}.{LETTER_PROBABILITIES} returned P({letter}) = {value!r} at position {position}: "
                "expected a probability between 0 and 1"
            )
        values[letter] = float(value)
    if sum(values.values()) > 1.0 + 1e-6:
        raise FineError(
            f"{option}: {name}.{LETTER_PROBABILITIES} returned probabilities above 1 in total at {position}"
        )
    return LetterScores(values)


def _accepted_keywords(function: Callable[..., Any]) -> set[str] | None:
    """The keyword names the callable takes, or None when it takes **kwargs (or cannot be inspected)."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return None
    return {p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


def check_answers(name: str, answers: Any, expected: int, option: str) -> list[str | Truncated]:
    """A list of exactly ``expected`` answers, or a FineError that says what came back instead.

    An answer is a string, or ``{"text": str, "finish_reason": str}`` (OpenAI's names): a callable that wraps a
    model with a token budget says ``"finish_reason": "length"`` for a reply the budget cut short.
    """
    if isinstance(answers, (str, bytes)) or not isinstance(answers, Sequence):
        raise FineError(f"{option}: {name} returned {type(answers).__name__}, expected a list of strings")
    if len(answers) != expected:
        raise FineError(f"{option}: {name} returned {len(answers)} answers for {expected} conversations")
    return [_answer(name, answer, position, option) for position, answer in enumerate(answers)]


def _answer(name: str, answer: Any, position: int, option: str) -> str | Truncated:
    truncated = False
    if isinstance(answer, dict):
        reason = answer.get("finish_reason", "stop")
        if set(answer) - {"text", "finish_reason"} or not isinstance(reason, str):
            raise FineError(
                f"{option}: {name} returned a dict at position {position}: expected keys 'text' and "
                f"'finish_reason' (a string), got {sorted(map(str, answer))}"
            )
        truncated, answer = reason == "length", answer.get("text")
    if not isinstance(answer, str):
        raise FineError(f"{option}: {name} returned {type(answer).__name__} at position {position}, expected a string")
    # A lone surrogate cannot be written as UTF-8 (reports, JUnit); replace it rather than crash at the end.
    text = answer.encode("utf-8", "replace").decode("utf-8")
    return Truncated(text) if truncated else text
