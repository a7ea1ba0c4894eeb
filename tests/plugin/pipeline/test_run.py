"""pipeline.run without pytest: one run() for every answer source, in milliseconds."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from fine_pytest.backends.base import Conversation
from fine_pytest.core.dataset import Pair
from fine_pytest.core.sampling import GenerationSettings, Sampling
from fine_pytest.judges.refusal import RefusalJudge
from fine_pytest.pipeline.batch import Exporting, Importing
from fine_pytest.pipeline.cache import Cache
from fine_pytest.pipeline.coordination import RunInfo
from fine_pytest.pipeline.evaluate import Keys, Lazy
from fine_pytest.pipeline.plan import RunPlan
from fine_pytest.pipeline.run import run
from fine_pytest.pipeline.settings import Settings
from fine_pytest.pipeline.sources import AnswerSource, GivenModel, LiveModel

GENERATION = GenerationSettings(open=Sampling(32), mc=Sampling(8))
PAIRS = [
    Pair(id=i, category="C", question=f"q{i}?", positive=f"No {i}.", negative=f"Yes {i}.", index=i) for i in range(4)
]


class Safe:
    """Refuses, and picks the safe reply (whose text starts with "No") in either order."""

    name = "safe"

    def __init__(self, fail: bool = False) -> None:
        self.asked = 0
        self.closed = False
        self.fail = fail

    def generate(self, conversations: Sequence[Conversation], samplings: Sequence[Sampling]) -> list[str]:
        if self.fail:
            raise RuntimeError("the model fell over")
        self.asked += len(conversations)
        answers = []
        for conversation in conversations:
            text = conversation[-1]["content"]
            if "Option: [[A]]" not in text:
                answers.append("I can't help with that.")
            else:
                answers.append("Option: [[A]]" if "Reply A:\nNo" in text else "Option: [[B]]")
        return answers

    def close(self) -> None:
        self.closed = True


def plan(tmp_path: Path, run_id: str = "r1") -> RunPlan:
    info = RunInfo(run_id, str(tmp_path), persistent=True)
    return RunPlan(GENERATION, Keys(model="safe", judge="refusal", run=run_id), info)


def test_every_source_is_an_answer_source() -> None:
    settings = Settings(model="py:m:f")
    for source in (LiveModel(lambda _: Safe()), GivenModel(Safe()), Exporting(settings), Importing(settings)):
        assert isinstance(source, AnswerSource)


def test_a_live_model_loads_only_when_the_cache_lacks_answers_and_is_closed_after(tmp_path: Path) -> None:
    loaded: list[Safe] = []

    def load(partition: int) -> Safe:
        loaded.append(Safe())
        return loaded[-1]

    with Cache(tmp_path / "c.sqlite") as cache:
        first = run(PAIRS, plan(tmp_path), cache, LiveModel(load), Lazy(RefusalJudge))
        assert len(first.results) == 4 and first.stats is not None and first.stats["generated"] == 12
        assert len(loaded) == 1 and loaded[0].closed
        again = run(PAIRS, plan(tmp_path, "r2"), cache, LiveModel(load), Lazy(RefusalJudge))
    assert len(loaded) == 1  # every answer came from the cache: no model was loaded
    assert again.results == first.results and again.stats is not None and again.stats["cached"] == 12


def test_a_model_that_raises_fails_the_run_with_its_own_frames_and_is_closed(tmp_path: Path) -> None:
    model = Safe(fail=True)
    with Cache(tmp_path / "c.sqlite") as cache:
        outcome = run(PAIRS, plan(tmp_path), cache, LiveModel(lambda _: model), Lazy(RefusalJudge))
    assert outcome.results == [] and outcome.failure is not None
    assert "RuntimeError: the model fell over" in outcome.failure and "fine_pytest" not in outcome.failure
    assert model.closed


def test_an_export_hands_back_what_nobody_answered_then_nothing(tmp_path: Path) -> None:
    settings = Settings(model="py:m:f")
    with Cache(tmp_path / "c.sqlite") as cache:
        exported = run(PAIRS, plan(tmp_path), cache, Exporting(settings), Lazy(RefusalJudge))
        assert exported.exported is not None and len(exported.exported) == 12 and exported.results == []
        run(PAIRS[:2], plan(tmp_path, "r2"), cache, GivenModel(Safe()), Lazy(RefusalJudge))
        rest = run(PAIRS, plan(tmp_path, "r3"), cache, Exporting(settings), Lazy(RefusalJudge))
        assert rest.exported is not None and len(rest.exported) == 6  # the two pairs answered since are not asked
        run(PAIRS, plan(tmp_path, "r4"), cache, GivenModel(Safe()), Lazy(RefusalJudge))
        done = run(PAIRS, plan(tmp_path, "r5"), cache, Exporting(settings), Lazy(RefusalJudge))
    assert done.exported == []


def test_a_given_model_is_used_and_left_open(tmp_path: Path) -> None:
    model = Safe()
    with Cache(tmp_path / "c.sqlite") as cache:
        outcome = run(PAIRS, plan(tmp_path), cache, GivenModel(model), Lazy(RefusalJudge))
    assert model.asked == 12 and not model.closed
    assert all(result.consistently_safe for result in outcome.results)
