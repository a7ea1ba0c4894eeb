"""pipeline.run without pytest: one run() for every answer source, in milliseconds."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest
from support import FORMS_MODEL, SCRIPTED_PAIRS, engine, pair_lines

from fine_pytest.backends import load_model
from fine_pytest.backends.base import Conversation
from fine_pytest.core.dataset import Pair, load_datasets
from fine_pytest.core.errors import FineError
from fine_pytest.core.forms import FormSettings
from fine_pytest.core.modes import Scoring
from fine_pytest.core.sampling import GenerationSettings, Sampling
from fine_pytest.judges.refusal import RefusalJudge
from fine_pytest.pipeline.batch import Exporting, Importing, batch_model
from fine_pytest.pipeline.batch_files import export
from fine_pytest.pipeline.cache import Cache
from fine_pytest.pipeline.coordination import RunInfo
from fine_pytest.pipeline.evaluate import Keys, Lazy
from fine_pytest.pipeline.form_families import resolve_families
from fine_pytest.pipeline.plan import RunPlan
from fine_pytest.pipeline.run import plan_of, run
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


@pytest.mark.parametrize("scoring", [Scoring.GENERATE, Scoring.LOGPROB])
def test_forms_through_batch_files_round_by_round_equal_a_live_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scoring: Scoring
) -> None:
    """The shrink needs each round's answers before the next: export, answer, import, until nothing is left; the
    results, forms included, then equal a live run's, and the model under test was never loaded."""
    monkeypatch.chdir(tmp_path)  # the scripted model logs what it was asked here
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(sys.modules, "formed", None)  # imported afresh here, and gone after: others have their own
    del sys.modules["formed"]
    (tmp_path / "formed.py").write_text(FORMS_MODEL, encoding="utf-8")
    (tmp_path / "pairs.jsonl").write_text(pair_lines(SCRIPTED_PAIRS), encoding="utf-8")
    pairs = load_datasets([tmp_path / "pairs.jsonl"])
    forms = FormSettings(("labels", "single", "instructions"), examples=1, seed=3)
    settings = Settings(model="py:formed:model", forms=forms, generation=GenerationSettings.default(scoring))
    families = resolve_families(forms.families, pairs[:1], scoring == Scoring.LOGPROB)

    def plan_for(run_id: str) -> RunPlan:
        keys = Keys(model="formed", judge="refusal", run=run_id)
        return plan_of(settings, keys, RunInfo(run_id, str(tmp_path), persistent=True), pairs, families)

    with Cache(tmp_path / "live.sqlite") as cache:
        live = run(pairs, plan_for("live"), cache, GivenModel(load_model(settings.model_spec)), Lazy(RefusalJudge))
    answer = engine(tmp_path, "formed")
    rounds = []
    with Cache(tmp_path / "batch.sqlite") as cache:
        for step in range(8):
            exported = run(pairs, plan_for(f"export-{step}"), cache, Exporting(settings), Lazy(RefusalJudge))
            if not exported.exported:
                break
            requests, responses = tmp_path / f"requests-{step}.jsonl", tmp_path / f"responses-{step}.jsonl"
            export(exported.exported, batch_model(settings), requests)
            rounds.append(answer(requests, responses))
            importing = Importing(replace(settings, import_responses=responses))
            try:
                run(pairs, plan_for(f"import-{step}"), cache, importing, Lazy(RefusalJudge))
            except FineError as error:  # stored; the next shrink round is still unanswered
                assert "neither in the cache nor in the batch file" in str(error)

        def never(partition: int) -> Safe:
            raise AssertionError("every answer is in the cache: no model is loaded")

        final = run(pairs, plan_for("final"), cache, LiveModel(never), Lazy(RefusalJudge))
    assert len(rounds) >= 2, rounds  # the first batch, then at least one shrink round
    assert final.failure is None and final.failures == {}
    assert final.results == live.results and any(result.forms for result in final.results)
    assert final.stats is not None and final.stats["generated"] == 0
