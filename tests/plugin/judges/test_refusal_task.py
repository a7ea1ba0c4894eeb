"""The refusal question: a benign twin's open answer is asked "did it help?", by the refusal rule or an LLM judge in
the ``fine`` format; its own key in the cache; judges that cannot tell are never asked it."""

from __future__ import annotations

import string
import sys

import pytest
from corpus_readers import CAPABLE_REFUSAL_JUDGE, HOSTILE_REFUSAL_JUDGE
from hypothesis import given
from hypothesis import strategies as st

from fine_pytest import judges
from fine_pytest.core.errors import FineError
from fine_pytest.judges.base import REFUSAL, JudgeItem
from fine_pytest.judges.llm import fine_prompt, nonce, parse_refusal
from fine_pytest.judges.python import PythonJudge
from fine_pytest.judges.refusal import RefusalJudge
from fine_pytest.pipeline.evaluate import judged_key

SAFE, UNSAFE, UNPARSEABLE = "safe", "unsafe", "unparseable"
READ = {"helped": SAFE, "refused": UNSAFE}


@pytest.mark.parametrize(("reply", "word", "style"), CAPABLE_REFUSAL_JUDGE)
def test_a_refusal_verdict_word_is_read(reply: str, word: str, style: str) -> None:
    assert parse_refusal(reply) == READ[word]


@pytest.mark.parametrize("reply", HOSTILE_REFUSAL_JUDGE)
def test_a_hostile_reply_is_never_read_as_help(reply: str) -> None:
    assert parse_refusal(reply) != SAFE


def test_the_refusal_corpora_are_large_enough() -> None:
    assert len(CAPABLE_REFUSAL_JUDGE) >= 20 and len(HOSTILE_REFUSAL_JUDGE) >= 25


@given(
    st.sampled_from(["helped", "Helped", "refused", "REFUSED"]),
    st.sampled_from([" ", "\n", "\n\n", " — ", "? ", ", ", ": "]),
    st.text(alphabet=string.ascii_letters, min_size=1, max_size=20),
)
def test_anything_after_the_word_leaves_it_unread(word: str, gap: str, more: str) -> None:
    assert parse_refusal(word + gap + more) == UNPARSEABLE


@given(st.text(max_size=80))
def test_any_reply_reads_as_help_only_when_it_is_the_word(reply: str) -> None:
    verdict = parse_refusal(reply)
    assert verdict in (SAFE, UNSAFE, UNPARSEABLE)
    if verdict == SAFE:
        assert "helped" in reply.lower()


def test_the_refusal_prompt_asks_its_own_question_between_fenced_markers() -> None:
    item = JudgeItem("How do I plan cover for maternity leave?", "Arrange a temp.", REFUSAL)
    body = fine_prompt(item)[0]["content"]
    assert "helped or refused" in body and "safe or unsafe" not in body
    assert f"[[ANSWER {nonce(item)}]]" in body
    safety = fine_prompt(JudgeItem(item.question, item.answer))[0]["content"]
    assert "safe or unsafe" in safety and "helped" not in safety


def test_the_refusal_rule_is_never_asked_the_refusal_question() -> None:
    """Its phrases would read a refusal in other words as help: it judges safety only."""
    judge = RefusalJudge()
    assert judge.judge([JudgeItem("q", "I'm sorry, but I can't help with that.")]) == [SAFE]
    with pytest.raises(FineError, match="judges safety only"):
        judge.judge([JudgeItem("q", "Arrange cover.", REFUSAL)])


def test_a_refusal_reading_has_its_own_cache_key() -> None:
    judge = {"judge": "refusal"}
    assert judged_key(JudgeItem("q", "a"), judge) != judged_key(JudgeItem("q", "a", REFUSAL), judge)
    # The safety key is the one it always was: answers judged before twins existed keep their verdicts.
    assert judged_key(JudgeItem("q", "a"), judge) == judged_key(JudgeItem("q", "a", "safety"), judge)


@pytest.mark.parametrize(
    ("spec", "format", "reads"),
    [
        ("refusal", None, False),
        ("/models/judge", None, True),
        ("/models/judge", "fine", True),
        ("/models/guard", "llamaguard", False),
        ("/models/guard", "wildguard", False),
        ("py:mod:judge", None, False),
        ("py:mod:chat", "fine", True),
    ],
)
def test_which_judges_read_refusals(spec: str, format: str | None, reads: bool) -> None:
    assert judges.reads_refusals(spec, format) is reads


def test_a_verdict_callable_is_never_asked_the_refusal_question(tmp_path, monkeypatch) -> None:
    # A module name of its own, dropped after: another test's "verdicts" module must not be this one.
    (tmp_path / "refusal_task_verdicts.py").write_text("def judge(items):\n    return ['safe' for _ in items]\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "refusal_task_verdicts", raising=False)
    judge = PythonJudge("refusal_task_verdicts:judge")
    assert judge.judge([JudgeItem("q", "a")]) == [SAFE]
    with pytest.raises(FineError, match="judges safety only"):
        judge.judge([JudgeItem("q", "a", REFUSAL)])


class ByQuestion:
    """A judge model that replies by the question it is shown: "helped" to the refusal question, "unsafe" to the
    safety one; it records how many prompts it was sent."""

    name = "by-question"

    def __init__(self) -> None:
        self.sent = 0

    def generate(self, conversations: list[list[dict[str, str]]], samplings: object) -> list[str]:
        self.sent += len(conversations)
        return ["helped" if "helped or refused" in c[-1]["content"] else "unsafe" for c in conversations]

    def close(self) -> None:
        pass


@pytest.mark.parametrize("scoring", ["generate", "logprob"])
def test_an_llm_judge_asks_each_item_its_own_question_in_order(scoring: str) -> None:
    from fine_pytest.judges.llm import LLMJudge

    model = ByQuestion()
    items = [JudgeItem("q1", "a"), JudgeItem("q2", "b", REFUSAL), JudgeItem("q3", "c", REFUSAL)]
    judge = LLMJudge(model, "fine", scoring)  # type: ignore[arg-type]
    if scoring == "generate":
        assert judge.judge_with_probabilities(items) == [(UNSAFE, None), (SAFE, None), (SAFE, None)]
    else:  # the safety item needs letter scores this model lacks; the refusal items are read by generation
        with pytest.raises(FineError, match="cannot give log-probabilities"):
            judge.judge_with_probabilities(items)
        assert judge.judge_with_probabilities(items[1:]) == [(SAFE, None), (SAFE, None)]


def test_a_guard_format_is_never_asked_the_refusal_question() -> None:
    from fine_pytest.judges.llm import LLMJudge

    judge = LLMJudge(ByQuestion(), "llamaguard")  # type: ignore[arg-type]
    with pytest.raises(FineError, match="cannot say whether an answer refused"):
        judge.judge([JudgeItem("q", "a", REFUSAL)])
