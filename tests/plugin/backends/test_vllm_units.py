"""The vLLM back end's own logic, without an engine: settings, errors, long prompts, conversion caching.

The real engine is exercised end to end in tests/vllm/.
"""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path
from typing import Any

import pytest

from fine_pytest import backends
from fine_pytest.backends.base import PromptFailure
from fine_pytest.backends.embedded import COMPLETE, converted_folder
from fine_pytest.backends.vllm import VllmModel, engine_error, engine_settings, model_source
from fine_pytest.core.dataset import Pair
from fine_pytest.core.errors import FineError
from fine_pytest.core.sampling import GenerationSettings, Sampling
from fine_pytest.judges.refusal import RefusalJudge
from fine_pytest.pipeline.run import run_loaded


def test_specs_route_paths_and_embedded_names_to_vllm(tmp_path: Path) -> None:
    assert backends.split_spec("smollm2") == ("vllm", "smollm2")
    assert backends.split_spec(str(tmp_path)) == ("vllm", str(tmp_path))
    assert backends.split_spec("models/my.gguf") == ("vllm", "models/my.gguf")
    assert backends.split_spec("vllm:/models/x") == ("vllm", "/models/x")
    assert backends.split_spec("py:a:b") == ("py", "a:b")
    with pytest.raises(FineError, match="no back end for 'gpt-4'"):
        backends.split_spec("gpt-4")


def test_model_source_errors(tmp_path: Path) -> None:
    with pytest.raises(FineError, match="no such file or folder"):
        model_source(str(tmp_path / "missing"), "--model")
    with pytest.raises(FineError, match="not a model folder \\(it has no config.json\\)"):
        model_source(str(tmp_path), "--model")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(FineError, match="not a model \\(expected a Hugging Face folder or a .gguf file\\)"):
        model_source(str(tmp_path / "notes.txt"), "--model")
    (tmp_path / "config.json").write_text("{}")
    assert model_source(str(tmp_path), "--model") == tmp_path


def test_engine_settings_fit_the_hardware() -> None:
    folder = Path("/m")
    assert engine_settings(folder, on_cpu=False, overrides={}) == {"model": "/m", "seed": 0}
    assert engine_settings(folder, on_cpu=True, overrides={}) == {
        "model": "/m",
        "seed": 0,
        "dtype": "float32",
        "enforce_eager": True,
        "gpu_memory_utilization": 0.5,
        "block_size": 32,
    }
    tuned = engine_settings(folder, on_cpu=True, overrides={"dtype": "bfloat16", "tensor_parallel_size": 2})
    assert tuned["dtype"] == "bfloat16" and tuned["tensor_parallel_size"] == 2 and tuned["enforce_eager"] is True


def test_out_of_memory_error_suggests_what_to_lower() -> None:
    message = engine_error(RuntimeError("CUDA out of memory. Tried to allocate 2 GiB"), {"gpu_memory_utilization": 0.9})
    assert "gpu_memory_utilization" in message and "max_model_len" in message
    assert "now: gpu_memory_utilization=0.9" in message
    generic = engine_error(RuntimeError("Engine core initialization failed. See root cause above."), {})
    assert "pytest -v" in generic and "gpu_memory_utilization" in generic


class FakeTokenizer:
    def apply_chat_template(self, conversation: list[dict[str, str]], **options: Any) -> dict[str, list[int]]:
        return {"input_ids": [0] * len(conversation[-1]["content"].split())}


class FakeOutput:
    def __init__(self, text: str, request_id: str) -> None:
        self.outputs = [type("Completion", (), {"text": text})()]
        self.request_id = request_id
        self.finished = True


class FakeEngine:
    """vLLM's engine step API: each step finishes up to two queued requests, later ones first, and names each
    output by the external id (the queued id less its suffix)."""

    def __init__(self) -> None:
        self.queue: list[tuple[str, str]] = []  # (queued id, answer)
        self.aborted: list[str] = []
        self.steps = 0

    def step(self) -> list[FakeOutput]:
        self.steps += 1
        if self.steps % 3 == 0:
            return []  # a step that finishes nothing, as a decoding step often does
        done, self.queue = self.queue[-2:], self.queue[:-2]
        return [FakeOutput(text, queued.split("-")[0]) for queued, text in reversed(done)]

    def has_unfinished_requests(self) -> bool:
        return bool(self.queue)

    def abort_request(self, ids: list[str], internal: bool = False) -> None:
        assert internal
        self.aborted += ids
        self.queue = [(queued, text) for queued, text in self.queue if queued not in ids]


class FakeLLM:
    """Numbers requests from a running counter, as vLLM does, and finishes them out of order over several steps."""

    def __init__(self) -> None:
        self.batches: list[list[list[dict[str, str]]]] = []
        self.params: list[list[Any]] = []
        self.chat_options: list[dict[str, Any]] = []
        self.counter = 7  # an earlier batch already used some ids
        self.llm_engine = FakeEngine()

    def enqueue_chat(
        self, conversations: list[list[dict[str, str]]], params: Any, use_tqdm: bool, **options: Any
    ) -> list[str]:
        assert len(params) == len(conversations)  # one SamplingParams per prompt, as vLLM requires of a list
        self.batches.append(conversations)
        self.params.append(params)
        self.chat_options.append(options)
        ids = []
        for conversation in conversations:
            ids.append(f"{self.counter}-{self.counter * 7919 % 65536:04x}")
            self.llm_engine.queue.append((ids[-1], "answer to " + conversation[-1]["content"]))
            self.counter += 1
        return ids


class FakeVllm:
    @staticmethod
    def SamplingParams(**settings: Any) -> dict[str, Any]:  # noqa: N802 - mirrors vllm.SamplingParams
        return settings


def test_prompts_longer_than_the_context_fail_alone() -> None:
    model = VllmModel.__new__(VllmModel)
    model._tokenizer, model._llm, model._vllm, model.max_model_len = FakeTokenizer(), FakeLLM(), FakeVllm(), 5
    conversations = [[{"role": "user", "content": text}] for text in ("short one", "one two three four five six", "ok")]
    answers = model.generate(conversations, [Sampling(8)] * 3)
    assert answers[0] == "answer to short one" and answers[2] == "answer to ok"
    assert answers[1] == PromptFailure("the prompt has 6 tokens; the model's max_model_len is 5")
    assert len(model._llm.batches) == 1 and len(model._llm.batches[0]) == 2  # one batch, without the long prompt


def test_answers_map_back_to_their_pair_and_order_whatever_order_the_engine_returns() -> None:
    model = VllmModel.__new__(VllmModel)
    model._tokenizer, model._llm, model._vllm, model.max_model_len = FakeTokenizer(), FakeLLM(), FakeVllm(), 50
    model.name = "fake"
    pairs = [
        Pair(id=i, category="C", question=f"question {i}", positive=f"GOOD-{i}", negative=f"BAD-{i}", index=i)
        for i in range(5)
    ]
    evaluated = run_loaded(pairs, model, RefusalJudge(), GenerationSettings(open=Sampling(8), mc=Sampling(4)))
    for pair, result in zip(pairs, evaluated.results, strict=True):
        assert result.open_response == f"answer to question {pair.id}"
        first, second = result.mc_responses
        # Order 0 shows the safe option as Reply A; order 1 shows it as Reply B.
        assert first.index(f"GOOD-{pair.id}") < first.index(f"BAD-{pair.id}")
        assert second.index(f"BAD-{pair.id}") < second.index(f"GOOD-{pair.id}")
    # One engine call for all 15 prompts; each prompt carries its own budget.
    assert [len(batch) for batch in model._llm.batches] == [15]
    assert [p["max_tokens"] for p in model._llm.params[0]] == [8, 4, 4] * 5


def fake_convert(source: Path, destination: Path) -> None:
    destination.mkdir(parents=True)
    time.sleep(0.5)  # long enough that racing processes overlap
    with open(source.parent / "conversions.log", "a") as log:
        log.write("converted\n")
    (destination / "config.json").write_text("{}")


def test_conversion_is_cached_by_content(tmp_path: Path) -> None:
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"weights v1")
    first = converted_folder(gguf, fake_convert, root=tmp_path / "cache")
    assert (first / COMPLETE).exists() and (first / "config.json").exists()
    assert converted_folder(gguf, fake_convert, root=tmp_path / "cache") == first
    gguf.write_bytes(b"weights v2")
    assert converted_folder(gguf, fake_convert, root=tmp_path / "cache") != first
    assert (tmp_path / "conversions.log").read_text().count("converted") == 2


def _convert_in_child(gguf: str, root: str) -> None:
    converted_folder(Path(gguf), fake_convert, root=Path(root))


@pytest.mark.slow
def test_racing_processes_convert_once(tmp_path: Path) -> None:
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"weights")
    context = multiprocessing.get_context("spawn")
    children = [context.Process(target=_convert_in_child, args=(str(gguf), str(tmp_path / "c"))) for _ in range(3)]
    for child in children:
        child.start()
    for child in children:
        child.join(60)
        assert child.exitcode == 0
    assert (tmp_path / "conversions.log").read_text().count("converted") == 1
    assert [p.name for p in (tmp_path / "c").iterdir() if not p.name.endswith(".lock")] == [
        next(p.name for p in (tmp_path / "c").iterdir() if p.is_dir())
    ]


def test_a_failed_conversion_leaves_nothing_behind(tmp_path: Path) -> None:
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"weights")

    def broken(source: Path, destination: Path) -> None:
        destination.mkdir(parents=True)
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        converted_folder(gguf, broken, root=tmp_path / "cache")
    assert [p.name for p in (tmp_path / "cache").iterdir() if not p.name.endswith(".lock")] == []
    assert (converted_folder(gguf, fake_convert, root=tmp_path / "cache") / "config.json").exists()


def test_conversion_names_a_missing_gguf_reader_before_transformers_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A CI run once died inside transformers ("accelerate is required...") after the engine set-up; the check
    # up front turns that into one line naming the package. torch and transformers are stand-ins here so that
    # the check, not the machine's installed packages, is what is tested.
    import importlib.util
    import sys
    import types

    from fine_pytest.backends.embedded import convert_gguf

    monkeypatch.setitem(sys.modules, "torch", types.ModuleType("torch"))
    stand_in = types.ModuleType("transformers")
    stand_in.AutoModelForCausalLM = stand_in.AutoTokenizer = object  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "transformers", stand_in)
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "accelerate" else real_find_spec(name, *a)
    )
    with pytest.raises(FineError, match=r"m\.gguf needs (gguf and )?accelerate: pip install 'fine-pytest\[cpu\]'"):
        convert_gguf(tmp_path / "m.gguf", tmp_path / "out")


def test_missing_vllm_names_the_extra(pytester: pytest.Pytester) -> None:
    # Block the import even where vllm is installed, so this checks the message and not the machine.
    pytester.makeconftest("import sys\nsys.modules['vllm'] = None\n")
    (pytester.path / "model").mkdir()
    (pytester.path / "model" / "config.json").write_text("{}")
    pytester.makepyfile(test_suite="def test_pair(fine_pair):\n    fine_pair.check()\n")
    result = pytester.runpytest("--model=model")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "vllm is not installed; pip install 'fine-pytest[cpu]'" in result.stderr.str()
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


@pytest.mark.parametrize(
    ("spec", "message"),
    [("does/not/exist", "no such file or folder"), ("empty", "not a model folder (it has no config.json)")],
)
def test_bad_model_paths_are_usage_errors(pytester: pytest.Pytester, spec: str, message: str) -> None:
    (pytester.path / "empty").mkdir()
    pytester.makepyfile(test_suite="def test_pair(fine_pair):\n    fine_pair.check()\n")
    result = pytester.runpytest(f"--model={spec}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert f"--model={spec}: {message}" in result.stderr.str()


def test_a_completion_ended_by_the_budget_is_marked_truncated() -> None:
    from types import SimpleNamespace

    from fine_pytest.backends.base import Truncated
    from fine_pytest.backends.vllm import completion

    assert completion(SimpleNamespace(text="Option: [[A]]", finish_reason="stop")) == "Option: [[A]]"
    assert completion(SimpleNamespace(text="Option: [[", finish_reason="length")) == Truncated("Option: [[")


def test_a_tokenizer_that_splits_a_letter_is_a_clear_error() -> None:
    from fine_pytest.backends.vllm import check_letter_tokens
    from fine_pytest.core.errors import FineError

    class Splitting:
        def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
            return [1, 2] if text == "B" else [1]

    check_letter_tokens(Splitting(), ("A",), "m")
    check_letter_tokens(Splitting(), ("safe", "unsafe"), "m")  # words are read by their first token
    with pytest.raises(FineError, match="splits the answer letter 'B' into 2 tokens"):
        check_letter_tokens(Splitting(), ("A", "B"), "m")


def test_letter_scores_from_an_engine_output() -> None:
    import math
    from types import SimpleNamespace

    from fine_pytest.backends.base import LetterScores, PromptFailure
    from fine_pytest.backends.vllm import letter_scores

    entry = SimpleNamespace
    output = SimpleNamespace(
        logprobs=[
            {7: entry(logprob=math.log(0.6), decoded_token="A"), 8: entry(logprob=math.log(0.3), decoded_token=None)}
        ]
    )
    tokenizer = SimpleNamespace(decode=lambda ids: "B")
    scores = letter_scores(output, tokenizer, ("A", "B"))
    assert isinstance(scores, LetterScores) and scores.probabilities == pytest.approx({"A": 0.6, "B": 0.3})
    assert isinstance(letter_scores(SimpleNamespace(logprobs=None), tokenizer, ("A", "B")), PromptFailure)


def fake_model(max_model_len: int = 50) -> VllmModel:
    model = VllmModel.__new__(VllmModel)
    model._tokenizer, model._llm, model._vllm, model.max_model_len = (
        FakeTokenizer(),
        FakeLLM(),
        FakeVllm(),
        max_model_len,
    )
    model.name = "fake"
    return model


def test_answers_stream_out_as_the_engine_finishes_them_each_by_its_position() -> None:
    model = fake_model(max_model_len=5)
    texts = ["a", "b", "one two three four five six", "c", "d", "e"]
    batches = list(model.generate_stream([[{"role": "user", "content": t}] for t in texts], [Sampling(8)] * 6))
    # The prompt too long for the context fails first, alone; the rest come two per step, later ones first.
    assert batches[0] == [(2, PromptFailure("the prompt has 6 tokens; the model's max_model_len is 5"))]
    assert batches[1:] == [
        [(5, "answer to e"), (4, "answer to d")],
        [(3, "answer to c"), (1, "answer to b")],
        [(0, "answer to a")],
    ]
    assert model._llm.llm_engine.aborted == []


def test_a_caller_that_stops_reading_leaves_the_engine_empty() -> None:
    # An interrupt, or a failure storing an answer, closes the stream: what is still queued is aborted, so the
    # engine has nothing left over for the next call (the judge's, or the next chunk).
    model = fake_model()
    stream = model.generate_stream([[{"role": "user", "content": t}] for t in "abcde"], [Sampling(8)] * 5)
    assert next(stream) == [(4, "answer to e"), (3, "answer to d")]
    stream.close()
    assert sorted(id.split("-")[0] for id in model._llm.llm_engine.aborted) == ["7", "8", "9"]
    assert not model._llm.llm_engine.has_unfinished_requests()


def test_an_output_for_a_request_this_run_did_not_make_is_refused() -> None:
    model = fake_model()
    model._llm.llm_engine.queue.append(("3-abcd", "a stray answer"))  # finished first: later ones come first
    with pytest.raises(FineError, match="vLLM finished request '3', which this run did not make"):
        model.generate([[{"role": "user", "content": "a"}]], [Sampling(8)])


def test_the_engine_stopping_with_prompts_unanswered_is_an_error_not_a_short_list() -> None:
    model = fake_model()
    engine = model._llm.llm_engine
    engine.step = lambda: (engine.queue.clear(), [])[1]  # type: ignore[method-assign]  # drops them silently
    with pytest.raises(FineError, match="the vLLM engine stopped with 2 prompts unanswered"):
        model.generate([[{"role": "user", "content": t}] for t in "ab"], [Sampling(8)] * 2)


def test_scores_stream_with_the_chat_options_of_their_opening() -> None:
    model = fake_model()
    model._tokenizer.encode = lambda text, add_special_tokens: [1]  # type: ignore[attr-defined]
    conversations = [[{"role": "user", "content": "q"}, {"role": "assistant", "content": "Option: [["}]]
    batches = list(model.score_stream(conversations, ["A", "B"]))
    assert [index for batch in batches for index, _ in batch] == [0]
    list(model.score_stream(conversations, ["yes", "no"], continue_final=False))
    assert model._llm.chat_options == [
        {"add_generation_prompt": False, "continue_final_message": True},
        {"add_generation_prompt": True, "continue_final_message": False},
    ]
    assert model._llm.params[0][0] == {"max_tokens": 1, "temperature": 0.0, "logprobs": 20, "seed": 0}


def test_a_stop_string_reaches_the_engine_and_stays_in_the_text() -> None:
    from types import SimpleNamespace

    from fine_pytest.backends.vllm import sampling_params
    from fine_pytest.core.prompts import MC_STOP
    from fine_pytest.core.sampling import Sampling

    fake = SimpleNamespace(SamplingParams=lambda **settings: settings)
    assert sampling_params(fake, Sampling(16, stop=MC_STOP)) == {
        "max_tokens": 16, "temperature": 0.0, "seed": 0, "stop": ["]]"], "include_stop_str_in_output": True,
    }  # fmt: skip
    assert "stop" not in sampling_params(fake, Sampling(256))


def test_a_conversation_the_chat_template_cannot_render_fails_alone() -> None:
    from fine_pytest.backends.vllm import prompt_lengths

    class NoSystemRole:
        def apply_chat_template(self, conversation, add_generation_prompt, tokenize):
            if conversation[0]["role"] == "system":
                raise ValueError("System role not supported")
            return [1, 2, 3]

    lengths = prompt_lengths(NoSystemRole(), [[{"role": "user", "content": "q"}], [{"role": "system", "content": "s"}]])
    assert lengths[0] == 3
    assert (
        lengths[1] == "the model's chat template cannot render this conversation: ValueError: System role not supported"
    )


def test_a_begun_reply_is_continued_and_a_fresh_one_opened_in_the_same_engine_pass() -> None:
    model = VllmModel.__new__(VllmModel)
    model._tokenizer, model._llm, model._vllm, model.max_model_len = FakeTokenizer(), FakeLLM(), FakeVllm(), 50
    fresh = [{"role": "user", "content": "question"}]
    begun = [*fresh, {"role": "assistant", "content": "Sure."}]
    # A guard judge's prompt also ends with an assistant turn (the answer it classifies): it is answered anew.
    guarded = [*fresh, {"role": "assistant", "content": "I can't help with that."}]
    samplings = [Sampling(8), Sampling(8, continue_reply=True), Sampling(8), Sampling(8)]
    answers = model.generate([fresh, begun, fresh, guarded], samplings)
    assert answers == [
        "answer to question",
        "answer to Sure.",
        "answer to question",
        "answer to I can't help with that.",
    ]
    # Two queues (one per chat template setting), both queued before the engine steps.
    assert model._llm.batches == [[fresh, fresh, guarded], [begun]]
    assert model._llm.chat_options == [
        {"add_generation_prompt": True, "continue_final_message": False},
        {"add_generation_prompt": False, "continue_final_message": True},
    ]


def test_a_group_that_cannot_be_queued_aborts_the_groups_queued_before_it() -> None:
    model = VllmModel.__new__(VllmModel)
    model._tokenizer, model._llm, model._vllm, model.max_model_len = FakeTokenizer(), FakeLLM(), FakeVllm(), 50
    queue = model._llm.enqueue_chat

    def refusing(conversations, params, use_tqdm, **options):
        if options.get("continue_final_message"):
            raise ValueError("this chat template cannot continue a final message")
        return queue(conversations, params, use_tqdm, **options)

    model._llm.enqueue_chat = refusing
    fresh = [{"role": "user", "content": "question"}]
    begun = [*fresh, {"role": "assistant", "content": "Sure."}]
    with pytest.raises(ValueError, match="cannot continue"):
        model.generate([fresh, begun], [Sampling(8), Sampling(8, continue_reply=True)])
    assert model._llm.llm_engine.aborted and not model._llm.llm_engine.queue


def test_a_begun_reply_the_template_cannot_continue_fails_alone() -> None:
    class Refusing(FakeTokenizer):
        def apply_chat_template(self, conversation, **options):
            if options.get("continue_final_message"):
                assert options["add_generation_prompt"] is False
                raise ValueError("the template changes the final message; it cannot be continued")
            return super().apply_chat_template(conversation, **options)

    model = VllmModel.__new__(VllmModel)
    model._tokenizer, model._llm, model._vllm, model.max_model_len = Refusing(), FakeLLM(), FakeVllm(), 50
    fresh = [{"role": "user", "content": "question"}]
    begun = [*fresh, {"role": "assistant", "content": "Sure."}]
    answers = model.generate([fresh, begun], [Sampling(8), Sampling(8, continue_reply=True)])
    assert answers[0] == "answer to question"
    assert isinstance(answers[1], PromptFailure) and "cannot be continued" in answers[1].reason
    assert model._llm.batches == [[fresh]]  # the paper's prompt was asked; the begun reply never reached the engine
