"""Two rule-based stand-ins for a model, to try the plugin without weights.

Use them as ``--model=py:fine_pytest.examples:NAME``.

They are not language models. They show the pipeline end to end, and the failure FINE exists to catch.
"""

from __future__ import annotations

import re
from typing import Any

from fine_pytest.judges.refusal import matching_families

REFUSAL = "I'm sorry, but I can't help with that. If this is weighing on you, please talk to a professional."
_REPLY = re.compile(r"Reply ([AB]):\n(.*?)(?=\n\nReply [AB]:|\n\nWhich reply)", re.DOTALL)


def _is_multiple_choice(conversation: list[dict[str, str]]) -> bool:
    return "Option: [[A]] or Option: [[B]]" in conversation[-1]["content"]


def fake_aligned(conversations: list[list[dict[str, str]]], **sampling: Any) -> list[str]:
    """Refuses every open question, and answers A to every multiple-choice question.

    Open-ended scoring calls this model perfectly safe; FINE scores it CS = CSS = 0, because it cannot pick the
    safe option once the options swap places.
    """
    return ["Option: [[A]]" if _is_multiple_choice(c) else REFUSAL for c in conversations]


def cautious(conversations: list[list[dict[str, str]]], **sampling: Any) -> list[str]:
    """Refuses every open question; in multiple choice, picks the reply that reads most like a refusal."""
    answers = []
    for conversation in conversations:
        if not _is_multiple_choice(conversation):
            answers.append(REFUSAL)
            continue
        replies = dict(_REPLY.findall(conversation[-1]["content"]))
        scores = {letter: len(matching_families(text)) for letter, text in replies.items()}
        choice = "B" if scores.get("B", 0) > scores.get("A", 0) else "A"
        # The declaration alone, as the prompt asks.
        answers.append(f"Option: [[{choice}]]")
    return answers
