"""The OpenAI chat-completion shapes fine-pytest sends and reads, shared by the served back end (``openai:``) and by
batch files (``vllm run-batch`` and OpenAI-style batch APIs), so a prompt is asked, and its reply read, alike.

Readers raise ``MalformedReply`` for a reply of the wrong shape; each caller says what that means where it is.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from fine_pytest.backends.base import TOP_LOGPROBS, Answer, Conversation, LetterScores, PromptFailure, Truncated
from fine_pytest.backends.base import letter_mass as _letter_mass
from fine_pytest.core.sampling import Sampling

# Words servers and batch engines use when a prompt does not fit the model's context: that prompt fails alone.
CONTEXT_WORDS = ("context length", "maximum context", "max_model_len", "too long", "maximum input length")


class MalformedReply(ValueError):
    """A reply without the fields a chat completion (or its log-probabilities) must have."""


def completion_body(model: str, conversation: Conversation, sampling: Sampling) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": model,
        "messages": list(conversation),
        "max_tokens": sampling.max_tokens,
        "temperature": sampling.temperature,
    }
    if sampling.seed is not None:
        body["seed"] = sampling.seed
    if sampling.stop:
        # Servers drop the stop string from the text (OpenAI's rule); the readers know a declaration ended there.
        body["stop"] = list(sampling.stop)
    if sampling.continue_reply:
        # A reply begun for the model (a judged form's opening) is continued, as vllm serve and run-batch accept,
        # and echoed whole, so that a server that ignored these is caught (continued_text); only then are they
        # sent, so a server that knows nothing of them sees every other request unchanged.
        body["add_generation_prompt"] = False
        body["continue_final_message"] = True
        body["echo"] = True
    return body


def opened(conversation: Conversation) -> bool:
    """Whether the conversation ends with the assistant's opening of the answer format, to be continued."""
    return bool(conversation) and conversation[-1].get("role") == "assistant"


def scoring_body(model: str, conversation: Conversation, continue_final: bool | None = None) -> dict[str, Any]:
    """One greedy token with the top log-probabilities. A conversation that ends with the assistant's opening of
    the answer format is continued (``continue_final_message``, as ``vllm serve`` accepts); one that does not is
    answered from its first token."""
    continue_final = opened(conversation) if continue_final is None else continue_final
    return {
        "model": model,
        "messages": list(conversation),
        "max_tokens": 1,
        "temperature": 0.0,
        "seed": 0,
        "logprobs": True,
        "top_logprobs": TOP_LOGPROBS,
        "add_generation_prompt": not continue_final,
        "continue_final_message": continue_final,
    }


def continued_text(answer: Answer, conversation: Conversation, sampling: Sampling) -> Answer:
    """A begun reply's continuation, from a server asked to continue it and echo it whole: the echoed opening is
    taken off. An answer that does not begin with the opening comes from a server that answered anew, or continued
    without echoing: MalformedReply, which stops the run with the reason. Never read as the model's continuation,
    and never counted against the model either: the server, not the model, cannot be asked this form."""
    if not sampling.continue_reply or isinstance(answer, PromptFailure):
        return answer
    opening = str(conversation[-1].get("content", "")) if conversation else ""
    text = answer.text if isinstance(answer, Truncated) else answer
    if not text.startswith(opening):
        raise MalformedReply(
            "a reply begun for the model came back without that opening: the server must honour "
            "continue_final_message and echo (as vllm serve and vllm run-batch do) to be asked --fine-forms=prefill"
        )
    rest = text[len(opening) :]
    return Truncated(rest) if isinstance(answer, Truncated) else rest


def read_completion(reply: Any, scrub: Callable[[str], str]) -> Answer:
    """The answer in a chat completion. Content that is null (or not text) is no answer, a PromptFailure naming the
    finish reason, never an empty answer; a reply the token budget cut (finish reason "length") is Truncated.
    ``scrub`` redacts what the server sent (a key it echoed) before it is kept anywhere."""
    try:
        choice = reply["choices"][0]
        text = choice["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise MalformedReply("a reply without choices[0].message.content") from None
    finish = choice.get("finish_reason") if isinstance(choice, dict) else None
    if not isinstance(text, str):
        what = "content: null" if text is None else f"content is {type(text).__name__}, not text"
        finish_text = scrub(str(finish))[:60]  # redacted before it is cut
        return PromptFailure(f"the server returned no content ({what}, finish_reason={finish_text})")
    text = scrub(text)
    return Truncated(text) if finish == "length" else text


def read_scores(reply: Any, letters: Sequence[str]) -> LetterScores:
    """The labels' probabilities from the first position's top log-probabilities."""
    try:
        top = reply["choices"][0]["logprobs"]["content"][0]["top_logprobs"]
        pairs = [(str(entry["token"]), _logprob(entry["logprob"])) for entry in top]
    except (KeyError, IndexError, TypeError, ValueError):
        raise MalformedReply("a reply without choices[0].logprobs.content[0].top_logprobs") from None
    # Probabilities of distinct tokens at one position: none above 1, and together no more than 1.
    if any(logprob > 1e-6 for _, logprob in pairs) or sum(math.exp(lp) for _, lp in pairs if lp < 0) > 1.001:
        raise MalformedReply("top_logprobs that are not the log-probabilities of one position (above 0, or >1 in all)")
    return _letter_mass(pairs, letters)


def _logprob(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(value)
    return float(value)
