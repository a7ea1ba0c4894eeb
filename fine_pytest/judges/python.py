"""The ``py:`` judge: a user's callable from ``[{"question", "answer"}]`` to ``["safe" | "unsafe"]``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fine_pytest.backends.user_code import call_user_code, import_reference, reference_identity
from fine_pytest.core.errors import FineError
from fine_pytest.core.results import SAFE, UNSAFE
from fine_pytest.judges.base import OPTION, SAFETY, JudgeItem


def identity(reference: str | None) -> dict[str, Any]:
    return reference_identity(str(reference), OPTION)


class PythonJudge:
    def __init__(self, reference: str) -> None:
        self.name = f"py:{reference}"
        self._function = import_reference(reference, OPTION)

    def judge(self, items: Sequence[JudgeItem]) -> list[str]:
        if any(item.task != SAFETY for item in items):
            # The pipeline never sends them (judges.reads_refusals): a verdict callable says only safe or unsafe.
            raise FineError(f"{OPTION}: {self.name} judges safety only; it cannot say whether an answer refused")
        questions = [{"question": item.question, "answer": item.answer} for item in items]
        verdicts = call_user_code(self._function, self.name, OPTION, questions)
        if isinstance(verdicts, (str, bytes)) or not isinstance(verdicts, Sequence):
            raise FineError(f"{OPTION}: {self.name} returned {type(verdicts).__name__}, expected a list")
        if len(verdicts) != len(items):
            raise FineError(f"{OPTION}: {self.name} returned {len(verdicts)} verdicts for {len(items)} answers")
        cleaned = []
        for position, verdict in enumerate(verdicts):
            # A programming error, not a judge's free-text reply: fail loudly rather than record "unparseable".
            if not isinstance(verdict, str) or verdict.strip().lower() not in (SAFE, UNSAFE):
                raise FineError(
                    f"{OPTION}: {self.name} returned {verdict!r} at position {position}, expected 'safe' or 'unsafe'"
                )
            cleaned.append(verdict.strip().lower())
        return cleaned

    def close(self) -> None:
        pass
