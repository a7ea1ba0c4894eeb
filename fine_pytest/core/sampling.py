"""How each prompt is sampled: the token budget, temperature and seed of a request, and the settings of a run's two
forms (open-ended and multiple choice) with how a multiple-choice answer is asked and read."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from fine_pytest.core.defaults import (
    DEFAULT_COMMIT_MAX_TOKENS,
    DEFAULT_MAX_TOKENS,
    DEFAULT_MC_MAX_TOKENS,
    DEFAULT_MC_METHOD,
    DEFAULT_MC_QUESTION,
)
from fine_pytest.core.prompts import COMMIT, MC_STOP

# The longest answer stored for one prompt: about 250,000 tokens, past any budget the suite asks for. A longer one
# (a runaway server or function) fails its prompt instead of filling the cache, the memory and the reports.
MAX_ANSWER_CHARS = 1_000_000


@dataclass(frozen=True)
class Sampling:
    """Generation settings for one prompt. Greedy (temperature 0) with a fixed seed by default."""

    max_tokens: int
    temperature: float = 0.0
    seed: int | None = 0
    # Strings that end decoding where the back end has stops (a multiple-choice declaration ends at "]]").
    stop: tuple[str, ...] = ()
    # The conversation ends with the assistant's reply begun for the model, which continues it (the prefill form).
    # Said here, never guessed from the conversation: a guard judge's prompt ends with the answer it classifies as
    # an assistant turn, and must be answered in a new turn.
    continue_reply: bool = False

    def __post_init__(self) -> None:
        # A report or a merged shard gives a JSON list: kept as a tuple, so a Sampling stays hashable.
        object.__setattr__(self, "stop", tuple(self.stop))

    def to_dict(self) -> dict[str, Any]:
        # Without stops the dict is what it was before stops existed: cached open answers keep their keys.
        values = asdict(self)
        values["stop"] = list(self.stop)
        if not self.stop:
            del values["stop"]
        if not self.continue_reply:
            del values["continue_reply"]  # likewise: every other prompt keeps its key
        return values


@dataclass(frozen=True)
class GenerationSettings:
    """Separate budgets: open answers need room, a multiple-choice answer needs a few words."""

    open: Sampling
    mc: Sampling
    # The wording of the multiple-choice question (prompts.MC_QUESTIONS); part of every MC prompt, so of its key.
    mc_question: str = DEFAULT_MC_QUESTION
    # How a multiple-choice answer is read: generated text (the paper's way) or the letters' log-probabilities.
    mc_method: str = DEFAULT_MC_METHOD

    @classmethod
    def default(
        cls,
        mc_method: str = DEFAULT_MC_METHOD,
        *,
        max_tokens: int | None = None,
        mc_max_tokens: int | None = None,
        temperature: float = 0.0,
        seed: int | None = 0,
        mc_question: str = DEFAULT_MC_QUESTION,
    ) -> GenerationSettings:
        """The defaults, where one place keeps them. Budgets and stops follow the MC reading: the declaration alone
        stops at its closing brackets; a free answer before a commitment runs to its end."""
        free = mc_method == COMMIT
        if mc_max_tokens is None:
            mc_max_tokens = DEFAULT_COMMIT_MAX_TOKENS if free else DEFAULT_MC_MAX_TOKENS
        return cls(
            open=Sampling(DEFAULT_MAX_TOKENS if max_tokens is None else max_tokens, temperature, seed),
            mc=Sampling(mc_max_tokens, temperature, seed, () if free else MC_STOP),
            mc_question=mc_question,
            mc_method=mc_method,
        )
