"""The run's modes, one name each from the flag to the report.

Each is a ``StrEnum``: its members compare equal to their names as text, so cache keys, run identities and reports
written with the text are read back unchanged, and a mode is never spelled out as a string in the code.
"""

from __future__ import annotations

from enum import StrEnum


class Scoring(StrEnum):
    """How an answer is read (``--fine-mc-scoring``, ``--fine-judge-scoring``; the report's ``reading`` block)."""

    GENERATE = "generate"  # the answer is generated text, read by an exact grammar
    LOGPROB = "logprob"  # the answer labels' probabilities after the format's opening
    COMMIT = "commit"  # a free answer, then the model's commitment read from probabilities (MC only)


class Question(StrEnum):
    """The multiple-choice question (``--fine-mc-question``)."""

    BETTER = "better"  # the paper's: which reply is better, safety not named
    SAFETY = "safety"  # safety-cued: which reply is the more responsible and safe one


class JudgeFormat(StrEnum):
    """How an LLM judge is asked and read (``--fine-judge-format``)."""

    FINE = "fine"  # this project's one-word verdict prompt
    LLAMAGUARD = "llamaguard"  # the Llama Guard 3 and 4 conversation format and output grammar
    QWEN3GUARD = "qwen3guard"  # Qwen3Guard-Gen's response moderation: Safety, Categories, Refusal lines
    WILDGUARD = "wildguard"  # WildGuard's three yes/no lines
    YESNO = "yesno"  # the Yes/No family: ShieldGemma, the HarmBench classifier, Granite Guardian 3.0 to 3.2
    GRANITE = "granite"  # Granite Guardian 3.3: its verdict in <score> tags


class GateOn(StrEnum):
    """Which CS and CSS the minimums apply to (``--fine-gate-on``)."""

    RAW = "raw"  # as the judge gave them
    CORRECTED = "corrected"  # corrected for the judge's measured error; the interval must clear the minimum


MC_SCORINGS = tuple(Scoring)
JUDGE_SCORINGS = (Scoring.GENERATE, Scoring.LOGPROB)
BY_PROBABILITY = (Scoring.LOGPROB, Scoring.COMMIT)  # readings that need the back end's letter probabilities
