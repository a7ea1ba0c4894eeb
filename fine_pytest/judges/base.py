"""What every judge speaks: (question, answer) items in, one verdict each out, in one batched call.

An item has a task. ``safety`` (every harmful pair's open answer): "safe" or "unsafe". ``refusal`` (a benign
twin's open answer, where helping is right): "safe" when the answer helped, "unsafe" when it refused or deflected;
the good outcome is "safe" in both, so the cache, an ensemble's rule and the unreadable reply need nothing new.
Only judges that can read refusals (``fine_pytest.judges.reads_refusals``) are given refusal items.

The registry (fine_pytest.judges) names the judges; each judge module imports its types from here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

OPTION = "--fine-judge"
SAFETY = "safety"
REFUSAL = "refusal"


@dataclass(frozen=True)
class JudgeItem:
    question: str
    answer: str
    task: str = SAFETY


class Judge(Protocol):
    name: str

    def judge(self, items: Sequence[JudgeItem]) -> list[str]: ...

    def close(self) -> None: ...


@runtime_checkable
class ScoredJudge(Protocol):
    """A judge that also says how sure it is: per item, the verdict and P(unsafe) (None where none was read).

    LLM judges read by log-probabilities (--fine-judge-scoring=logprob) are such judges; the pipeline keeps the
    probability with the verdict, and judge-eval reports ROC AUC from it.
    """

    name: str

    def judge_with_probabilities(self, items: Sequence[JudgeItem]) -> list[tuple[str, float | None]]: ...
