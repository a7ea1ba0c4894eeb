"""What judging costs per answer in each judge format, on the embedded model, and what the judge-error correction
adds to a run.

One engine, one process: the bundled labelled answers (fixtures/judge_labels.jsonl) are judged by the refusal
heuristic, then by SmolLM2 as an LLM judge in every format (generation), and in the formats whose first token
decides by the verdict words' probabilities too. The engine's prefix cache is emptied before each. SmolLM2 is not a
guard model: most of its replies are outside the guard grammars (counted as unread); the figures are what each
format costs to ask and read, not how well a guard reads. Then an ensemble (refusal, and SmolLM2 in the fine and
yesno formats, combined by majority) judges the same answers, against the sum of its members' own times; and the
correction of a 220-pair run's scores (overall and five categories) is timed.

    python bench/bench_judges.py --json bench-judges.json
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Sequence
from typing import Any

from fine_pytest.backends.base import ModelContext
from fine_pytest.backends.vllm import VllmModel
from fine_pytest.core.correction import correct_run
from fine_pytest.core.ensemble import Member, Rule, combine, split_of
from fine_pytest.core.metrics import Scores
from fine_pytest.core.modes import JudgeFormat, Scoring
from fine_pytest.core.results import UNPARSEABLE
from fine_pytest.judges.base import Judge, JudgeItem
from fine_pytest.judges.calibration import bundled_labels, load_labels
from fine_pytest.judges.ensemble import EnsembleJudge
from fine_pytest.judges.llm import FIRST_WORDS, LLMJudge
from fine_pytest.judges.refusal import RefusalJudge


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--answers", type=int, default=80, help="labelled answers judged (of the bundled 420)")
    parser.add_argument("--json", help="write the figures here too")
    args = parser.parse_args()
    rows = load_labels(bundled_labels())[: args.answers]
    items = [JudgeItem(row.question.strip(), row.answer) for row in rows]
    labels = [row.label for row in rows]
    figures: dict[str, Any] = {"answers": len(items)}
    start = time.perf_counter()
    verdicts = RefusalJudge().judge(items)
    figures["refusal"] = _figures(time.perf_counter() - start, verdicts, labels)
    model = VllmModel("smollm2", context=ModelContext())
    try:
        ways: list[tuple[str, str]] = [(format, Scoring.GENERATE) for format in JudgeFormat]
        ways += [(format, Scoring.LOGPROB) for format in FIRST_WORDS]
        for format, scoring in ways:
            if not model._llm.reset_prefix_cache():
                raise SystemExit("the engine did not reset its prefix cache: the formats would not start equal")
            judge = LLMJudge(model, format, scoring)  # not closed: it would close the shared engine
            start = time.perf_counter()
            verdicts = judge.judge(items)
            figures[f"{format}" + ("" if scoring == Scoring.GENERATE else "+logprob")] = _figures(
                time.perf_counter() - start, verdicts, labels
            )
        figures["ensemble"] = _ensemble(model, items, labels, figures)
    finally:
        model.close()
    baseline = figures[JudgeFormat.FINE]["ms_per_answer"]
    figures["ratios_vs_fine"] = {
        name: round(value["ms_per_answer"] / baseline, 2)
        for name, value in figures.items()
        if isinstance(value, dict) and "ms_per_answer" in value
    }
    # Judged as the refusal heuristic would judge a middling model: its figures fit these rates.
    overall = Scores(220, 175, 10, 15, 50, 0, 0)
    categories = {name: Scores(44, 35, 2, 3, 10, 0, 0) for name in "ABCDE"}
    confusion = {"safe": {"safe": 55, "unsafe": 156}, "unsafe": {"safe": 7, "unsafe": 202}}
    start = time.perf_counter()
    correction = correct_run(overall, categories, {"confusion": confusion})
    figures["correction_seconds"] = round(time.perf_counter() - start, 3)
    figures["correction_applied"] = correction.applied
    print(json.dumps(figures, indent=2))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as output:
            json.dump(figures, output, indent=2)


class _Shared:
    """A member judge on the one engine: the ensemble closes each member after its turn, which must not close it."""

    def __init__(self, judge: Any) -> None:
        self.name = judge.name
        self._judge = judge

    def judge(self, items: Sequence[JudgeItem]) -> list[str]:
        return list(self._judge.judge(items))

    def close(self) -> None:
        pass


def _ensemble(model: VllmModel, items: list[JudgeItem], labels: list[str], figures: dict[str, Any]) -> dict[str, Any]:
    members = (Member("refusal"), Member("smollm2", JudgeFormat.FINE), Member("smollm2", JudgeFormat.YESNO))
    loaders: list[Callable[[], Judge]] = [
        RefusalJudge,
        lambda: _Shared(LLMJudge(model, JudgeFormat.FINE)),
        lambda: _Shared(LLMJudge(model, JudgeFormat.YESNO)),
    ]
    if not model._llm.reset_prefix_cache():
        raise SystemExit("the engine did not reset its prefix cache")
    ensemble = EnsembleJudge(members, Rule.MAJORITY, loaders)
    start = time.perf_counter()
    votes = ensemble.votes(items)
    verdicts = [combine(row, Rule.MAJORITY) for row in votes]
    result = _figures(time.perf_counter() - start, verdicts, labels)
    alone = sum(figures[name]["ms_per_answer"] for name in ("refusal", JudgeFormat.FINE, JudgeFormat.YESNO))
    result["members_ms_per_answer"] = round(alone, 2)
    result["ratio_vs_members"] = round(result["ms_per_answer"] / alone, 3)
    result["disagreed"] = split_of(votes).disagreed
    return result


def _figures(seconds: float, verdicts: list[str], labels: list[str]) -> dict[str, Any]:
    return {
        "seconds": round(seconds, 2),
        "ms_per_answer": round(1000 * seconds / len(verdicts), 2),
        "unread": sum(verdict == UNPARSEABLE for verdict in verdicts),
        "agree_with_labels": sum(verdict == label for verdict, label in zip(verdicts, labels, strict=True)),
    }


if __name__ == "__main__":
    main()
