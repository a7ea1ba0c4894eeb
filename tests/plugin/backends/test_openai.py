"""The openai: back end against a small local HTTP stub, for the fault shapes a real server cannot produce on demand
(429, 5xx, slow replies, malformed JSON, a server that goes away). tests/vllm runs it against a real `vllm serve`."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from support import read_json

from fine_pytest.backends.base import Endpoint, ModelContext, PartialAnswers, PromptFailure, Truncated
from fine_pytest.backends.openai import OpenAIModel
from fine_pytest.core.errors import FineError
from fine_pytest.core.sampling import Sampling

pytestmark = pytest.mark.slow

SECRET = "sk-test-0123456789-do-not-print"


class Stub:
    """A scripted OpenAI-compatible server: answers by prompt, with faults injected per request number."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.faults: dict[int, tuple[int, str, dict[str, str]]] = {}  # request number -> (status, body, headers)
        self.delay: dict[int, float] = {}
        self.models = ["tiny"]
        self.list_fault: tuple[int, str, dict[str, str]] | None = None  # the reply to GET /models, if not the list
        self.key: str | None = None
        self.in_flight = 0
        self.most_in_flight = 0
        self.die_after: int | None = None
        self.lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None
        self.logprobs = True  # whether the stub honours logprobs/top_logprobs, as vllm serve does
        self.drip: dict[int, float] = {}  # request number -> seconds between the bytes of its reply, headers too
        self.url = ""

    def answer(self, body: dict[str, Any]) -> str:
        text = body["messages"][-1]["content"]
        return "Option: [[A]]" if "[[A]]" in text else f"I can't help with that. ({len(text)})"


def handler_for(stub: Stub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, status: int, body: str, headers: dict[str, str] | None = None, drip: float = 0.0) -> None:
            # A careless server echoes the request's credentials in its error text.
            data = body.replace("{authorization}", self.headers.get("Authorization", "")).encode()
            if drip:
                self._drip(status, data, headers or {}, drip)
                return
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            with contextlib.suppress(OSError):  # a client that gave up (a timeout, a cancel) has hung up
                self.wfile.write(data)

        def _drip(self, status: int, data: bytes, headers: dict[str, str], drip: float) -> None:
            lines = [
                f"HTTP/1.0 {status} Stub",
                f"Content-Length: {len(data)}",
                *(f"{k}: {v}" for k, v in headers.items()),
            ]
            raw = ("\r\n".join(lines) + "\r\n\r\n").encode() + data
            with contextlib.suppress(OSError):  # the client hung up: it was meant to, at its deadline
                for index in range(len(raw)):
                    self.wfile.write(raw[index : index + 1])
                    self.wfile.flush()
                    time.sleep(drip)

        def _authorised(self) -> bool:
            if stub.key is not None and self.headers.get("Authorization") != f"Bearer {stub.key}":
                self._send(401, json.dumps({"error": {"message": "Incorrect API key provided"}}))
                return False
            return True

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            if stub.list_fault is not None:
                self._send(*stub.list_fault)
            elif self._authorised():
                self._send(200, json.dumps({"data": [{"id": name, "root": f"/models/{name}"} for name in stub.models]}))

        def do_POST(self) -> None:  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with stub.lock:
                number = len(stub.requests)
                stub.requests.append(body)
                stub.headers.append(dict(self.headers))
                stub.in_flight += 1
                stub.most_in_flight = max(stub.most_in_flight, stub.in_flight)
            counted = True
            try:
                if not self._authorised():
                    return
                if stub.die_after is not None and number >= stub.die_after:
                    assert stub.server is not None
                    threading.Thread(target=stub.server.shutdown).start()
                    self.connection.close()
                    return
                time.sleep(stub.delay.get(number, 0.01))
                with stub.lock:
                    # Counted down before replying: the client may send its next request as soon as it reads this.
                    stub.in_flight -= 1
                    counted = False
                drip = stub.drip.get(number, 0.0)
                if number in stub.faults:
                    self._send(*stub.faults[number], drip=drip)
                    return
                content = stub.answer(body)
                finish = "length" if len(content) >= body["max_tokens"] * 4 else "stop"
                reply = {"choices": [{"message": {"role": "assistant", "content": content}, "finish_reason": finish}]}
                if body.get("logprobs") and stub.logprobs:
                    top = [
                        {"token": "A", "logprob": -0.5},
                        {"token": " B", "logprob": -1.5},
                        {"token": "I", "logprob": -3},
                    ]
                    reply["choices"][0]["logprobs"] = {
                        "content": [{"token": "A", "logprob": -0.5, "top_logprobs": top}]
                    }
                self._send(200, json.dumps(reply), drip=drip)
            finally:
                if counted:
                    with stub.lock:
                        stub.in_flight -= 1

    return Handler


@contextlib.contextmanager
def serving(stub: Stub) -> Iterator[Stub]:
    """The stub, listening on a free port of 127.0.0.1 until the block ends."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(stub))
    stub.server = server
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    stub.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        yield stub
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def stub() -> Iterator[Stub]:
    with serving(Stub()) as running:
        yield running


def model(stub: Stub, **endpoint: Any) -> OpenAIModel:
    settings = {"base_url": stub.url, "backoff": 0.01, **endpoint}
    return OpenAIModel("tiny", context=ModelContext(endpoint=Endpoint(**settings)))


def conversations(count: int) -> list[list[dict[str, str]]]:
    return [[{"role": "user", "content": f"question {index}"}] for index in range(count)]


def test_answers_come_back_in_prompt_order_with_bounded_concurrency(stub: Stub) -> None:
    stub.delay = {index: 0.05 * (index % 3) for index in range(12)}  # replies finish out of order
    answers = model(stub, concurrency=3).generate(conversations(12), [Sampling(16, 0.0, 7)] * 12)
    assert answers == [f"I can't help with that. ({len(f'question {i}')})" for i in range(12)]
    assert stub.most_in_flight <= 3
    assert stub.requests[0] | {"messages": None} == {
        "model": "tiny",
        "messages": None,
        "max_tokens": 16,
        "temperature": 0.0,
        "seed": 7,
    }


def test_rate_limits_and_server_errors_are_retried_with_backoff(stub: Stub) -> None:
    stub.faults = {0: (429, '{"error": "slow down"}', {"Retry-After": "0.2"}), 1: (503, "overloaded", {})}
    started = time.monotonic()
    answers = model(stub, concurrency=1).generate(conversations(2), [Sampling(8)] * 2)
    assert all(isinstance(answer, str) and answer for answer in answers)
    assert len(stub.requests) == 4  # both failed once, then succeeded
    assert time.monotonic() - started >= 0.2  # Retry-After was honoured


def test_a_slow_reply_times_out_and_is_retried(stub: Stub) -> None:
    # Margins wide enough for a loaded machine: the limit bounds the whole try, the retry's too.
    stub.delay = {0: 6.0}
    answers = model(stub, concurrency=1, timeout=2.0).generate(conversations(1), [Sampling(8)])
    assert answers[0] and len(stub.requests) == 2


def test_retries_run_out_with_a_clear_error(stub: Stub) -> None:
    stub.faults = {n: (500, "boom", {}) for n in range(10)}
    with pytest.raises(FineError, match=r"--model=openai:tiny: http://127\.0\.0\.1:\d+/v1: HTTP 500: boom"):
        model(stub, concurrency=1, retries=2).generate(conversations(1), [Sampling(8)])
    assert len(stub.requests) == 3


def test_malformed_json_is_a_clear_error(stub: Stub) -> None:
    stub.faults = {0: (200, "{not json", {})}
    with pytest.raises(FineError, match="the server sent a reply that is not JSON"):
        model(stub, concurrency=1).generate(conversations(1), [Sampling(8)])


def test_a_prompt_longer_than_the_context_fails_alone(stub: Stub) -> None:
    long = '{"error": {"message": "This model\'s maximum context length is 512 tokens."}}'
    stub.faults = {1: (400, long, {})}
    answers = model(stub, concurrency=1).generate(conversations(3), [Sampling(8)] * 3)
    assert isinstance(answers[1], PromptFailure) and "maximum context length" in answers[1].reason
    assert isinstance(answers[0], str) and isinstance(answers[2], str)


def test_unknown_model_wrong_key_and_no_server_are_one_clear_error_each(stub: Stub) -> None:
    with pytest.raises(FineError, match=r"does not serve 'other' \(it serves: tiny\)"):
        OpenAIModel("other", context=ModelContext(endpoint=Endpoint(base_url=stub.url)))
    stub.key = SECRET
    with pytest.raises(FineError, match="refused the API key \\(HTTP 401\\).*OPENAI_API_KEY") as refused:
        model(stub)
    assert SECRET not in str(refused.value)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens here once the probe closes
    endpoint = Endpoint(base_url=f"http://127.0.0.1:{port}/v1", retries=1, backoff=0.01)
    with pytest.raises(FineError, match="cannot reach .* connection refused"):
        OpenAIModel("tiny", context=ModelContext(endpoint=endpoint))


def test_the_key_comes_from_the_environment(stub: Stub, monkeypatch: pytest.MonkeyPatch) -> None:
    stub.key = SECRET
    monkeypatch.setenv("MY_KEY", SECRET)
    answers = model(stub, api_key_env="MY_KEY").generate(conversations(1), [Sampling(8)])
    assert answers[0] and stub.headers[0]["Authorization"] == f"Bearer {SECRET}"


def test_a_server_that_goes_away_keeps_what_came_back(stub: Stub) -> None:
    stub.die_after = 3
    with pytest.raises(PartialAnswers) as broken:
        model(stub, concurrency=1, retries=1, timeout=4.0).generate(conversations(6), [Sampling(8)] * 6)
    assert sorted(broken.value.answers) == [0, 1, 2]


SUITE = "def test_pair(fine_pair):\n    fine_pair.check()\n"


def test_end_to_end_with_a_key_that_never_leaks(project: pytest.Pytester, stub: Stub) -> None:
    stub.key = SECRET
    args = (
        "--model=openai:tiny",
        f"--fine-base-url={stub.url}",
        "--fine-dataset=pairs.jsonl",
        "--fine-report=report.json",
        "--junitxml=junit.xml",
        "--fine-concurrency=4",
        "-v",
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OPENAI_API_KEY", SECRET)
        result = project.runpytest(*args)
    assert result.ret == 0
    report = read_json(project.path / "report.json")
    assert report["overall"]["n"] == 5 and report["run"]["generated"] == 15
    everything = result.stdout.str() + result.stderr.str() + (project.path / "junit.xml").read_text()
    everything += (project.path / "report.json").read_text()
    assert SECRET not in everything
    for path in Path(project.path, ".pytest_cache").rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


def test_a_server_dying_mid_run_fails_the_gate_and_the_next_run_resumes(project: pytest.Pytester, stub: Stub) -> None:
    stub.die_after = 7
    url = stub.url
    args = ("--model=openai:tiny", f"--fine-base-url={url}", "--fine-dataset=pairs.jsonl", "--fine-report=r.json")
    broken = project.runpytest(*args, "--fine-concurrency=1", "--fine-retries=1", "--fine-timeout=1")
    assert broken.ret == 1
    broken.stdout.fnmatch_lines(["*--model=openai:tiny: *", "*FAIL  5 of 5 selected pairs have no verdict*"])
    assert not read_json(project.path / "r.json")["gate"]["passed"]
    # The server comes back at the same address: only the prompts that never came back are asked again.
    assert stub.server is not None
    stub.server.server_close()
    again = Stub()
    server = ThreadingHTTPServer(("127.0.0.1", int(url.split(":")[2].split("/")[0])), handler_for(again))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        resumed = project.runpytest(*args)
    finally:
        server.shutdown()
        server.server_close()
    assert resumed.ret == 0
    facts = read_json(project.path / "r.json")["run"]
    assert (facts["generated"], facts["cached"]) == (8, 7)
    assert len(again.requests) == 8


def test_a_reply_the_server_cut_at_the_budget_is_marked_truncated(stub: Stub) -> None:
    from fine_pytest.backends.base import Truncated

    # The stub reports finish_reason "length" when its answer reaches four characters per token of the budget.
    short, cut = model(stub, concurrency=1).generate(conversations(2), [Sampling(64), Sampling(2)])
    assert isinstance(short, str) and isinstance(cut, Truncated)
    assert cut.text.startswith("I can't help with that.")


def test_letter_probabilities_come_from_the_servers_top_logprobs(stub: Stub) -> None:
    import math

    from fine_pytest.backends.base import LetterScores

    opening = [{"role": "user", "content": "Which reply?"}, {"role": "assistant", "content": "Option: [["}]
    (scores,) = model(stub, concurrency=1).score_letters([opening], ("A", "B"))
    assert isinstance(scores, LetterScores)
    assert scores.probabilities == pytest.approx({"A": math.exp(-0.5), "B": math.exp(-1.5)})
    request = stub.requests[-1]
    assert request["max_tokens"] == 1 and request["logprobs"] is True and request["top_logprobs"] == 20
    assert request["continue_final_message"] is True and request["add_generation_prompt"] is False
    assert request["messages"][-1] == {"role": "assistant", "content": "Option: [["}


def test_a_server_without_logprobs_is_a_clear_error_not_a_fall_back(stub: Stub) -> None:
    from fine_pytest.backends.base import PartialAnswers

    stub.logprobs = False
    opening = [{"role": "user", "content": "Which reply?"}, {"role": "assistant", "content": "Option: [["}]
    with pytest.raises(PartialAnswers, match="returned no log-probabilities for the answer"):
        model(stub, concurrency=1).score_letters([opening], ("A", "B"))


class Overloaded(Stub):
    """A data-parallel deployment at capacity: past ``capacity`` requests at once, it answers 429 to the newcomer
    (as a load balancer in front of full replicas does) and asks for a short wait."""

    def __init__(self, capacity: int) -> None:
        super().__init__()
        self.capacity = capacity
        self.refused = 0
        self.busy = 0  # requests being served
        self.open = 0  # connections open now, served or not
        self.most_open = 0


def overload_handler(stub: Overloaded) -> type[BaseHTTPRequestHandler]:
    base = handler_for(stub)

    class Handler(base):  # type: ignore[valid-type, misc]
        def setup(self) -> None:
            with stub.lock:
                stub.open += 1
                stub.most_open = max(stub.most_open, stub.open)
            super().setup()

        def finish(self) -> None:
            super().finish()
            with stub.lock:
                stub.open -= 1

        def do_POST(self) -> None:  # noqa: N802
            with stub.lock:
                full = stub.busy >= stub.capacity
                stub.refused += full
                stub.busy += not full
            if full:
                self.rfile.read(int(self.headers["Content-Length"]))
                self._send(429, '{"error": {"message": "all replicas busy"}}', {"Retry-After": "0.05"})
                return
            try:
                super().do_POST()
            finally:
                with stub.lock:
                    stub.busy -= 1

    return Handler


def test_high_concurrency_against_a_saturated_cluster_answers_everything_with_bounded_connections() -> None:
    stub = Overloaded(capacity=12)
    stub.delay = {index: 0.1 for index in range(10_000)}
    server = ThreadingHTTPServer(("127.0.0.1", 0), overload_handler(stub))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    stub.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        answers = model(stub, concurrency=48, retries=30).generate(conversations(200), [Sampling(8)] * 200)
    finally:
        server.shutdown()
        server.server_close()
    assert answers == [f"I can't help with that. ({len(f'question {i}')})" for i in range(200)]
    assert stub.refused > 0  # the back-pressure happened, and every refused request was sent again until answered
    assert len(stub.requests) == 200  # the stub records only the requests it served
    assert stub.most_open <= 48  # never more connections than --fine-concurrency, whatever the server does


def test_the_stream_holds_a_window_of_calls_not_the_whole_run(stub: Stub) -> None:
    served = model(stub, concurrency=4)
    started: list[int] = []
    calls = [lambda i=i: started.append(i) or i for i in range(1000)]  # type: ignore[func-returns-value]
    stream = served._stream(calls)
    first = next(stream)
    time.sleep(0.3)  # the caller is busy storing: nothing more is handed to the pool meanwhile
    assert first and len(started) <= 2 * 4
    assert sorted(i for batch in [first, *stream] for i, _ in batch) == list(range(1000))
    assert sorted(started) == list(range(1000))


def test_a_caller_that_stops_reading_sends_nothing_more(stub: Stub) -> None:
    stub.delay = {index: 0.1 for index in range(100)}
    served = model(stub, concurrency=2)
    stream = served.generate_stream(conversations(100), [Sampling(8)] * 100)
    next(stream)
    stream.close()
    # A request already on the wire may reach the stub a moment later on a loaded machine: count after that.
    time.sleep(0.5)
    sent = len(stub.requests)
    time.sleep(0.5)
    assert len(stub.requests) == sent <= 4  # at most the requests in flight when it stopped, and nothing after


def test_a_servers_separate_reasoning_field_is_never_read() -> None:
    from fine_pytest.backends.chat_format import completion_body, read_completion
    from fine_pytest.core.prompts import MC_STOP
    from fine_pytest.core.sampling import Sampling

    reply = {
        "choices": [
            {
                "message": {"content": "Option: [[A", "reasoning_content": "Option: [[B]] is what I will say."},
                "finish_reason": "stop",
            }
        ]
    }
    answer = read_completion(reply, lambda text: text)
    assert answer == "Option: [[A"  # the server dropped the stop string; the reader knows the declaration ended
    from fine_pytest.core.choice import parse_choice

    assert parse_choice(str(answer)) == "A"
    # The stop travels in the request body of a multiple-choice prompt, and not in an open one's.
    assert completion_body("m", [], Sampling(16, stop=MC_STOP))["stop"] == ["]]"]
    assert "stop" not in completion_body("m", [], Sampling(256))
    # A reply begun for the model (the prefill form) is continued; nothing else is sent those fields.
    begun = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "Sure."}]
    body = completion_body("m", begun, Sampling(16, continue_reply=True))
    assert (body["continue_final_message"], body["add_generation_prompt"], body["echo"]) == (True, False, True)
    # A guard judge's conversation also ends with an assistant turn, and is answered in a new one.
    assert "continue_final_message" not in completion_body("m", begun, Sampling(16))
    assert "continue_reply" not in completion_body("m", begun, Sampling(16, continue_reply=True))


def test_a_begun_reply_is_read_only_when_the_server_continued_it() -> None:
    from fine_pytest.backends.chat_format import MalformedReply, continued_text

    begun = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "Sure."}]
    asked = Sampling(16, continue_reply=True)
    # Echoed whole, as vllm serve does with echo: the opening is taken off, a cut answer stays cut.
    assert continued_text("Sure. Actually, no.", begun, asked) == " Actually, no."
    cut = continued_text(Truncated("Sure. Step one"), begun, asked)
    assert isinstance(cut, Truncated) and cut.text == " Step one"
    # A server that ignored continue_final_message or echo answered anew: never read, and never counted against
    # the model (the run stops with the reason).
    for fresh in ("I can't help with that.", " Sure. Here", "sure. here"):
        with pytest.raises(MalformedReply, match="must honour continue_final_message and echo"):
            continued_text(fresh, begun, asked)
    assert continued_text("anything", begun, Sampling(16)) == "anything"  # not a begun reply: as it came
    failure = PromptFailure("the server returned no content")
    assert continued_text(failure, begun, asked) is failure


class Continuing(Stub):
    """A server that continues a begun reply, echoing it whole when asked (as vllm serve does) or not at all."""

    def __init__(self, echoes: bool) -> None:
        super().__init__()
        self.echoes = echoes

    def answer(self, body: dict[str, Any]) -> str:
        last = body["messages"][-1]
        if last["role"] == "assistant":
            assert body["continue_final_message"] is True and body["add_generation_prompt"] is False
            continuation = " Actually, I can't help with that."
            return last["content"] + continuation if self.echoes and body.get("echo") else continuation
        return super().answer(body)


@pytest.mark.parametrize("echoes", [True, False])
def test_a_served_model_asked_the_prefill_form(project: pytest.Pytester, echoes: bool) -> None:
    with serving(Continuing(echoes)) as stub:
        args = (
            "--model=openai:tiny",
            f"--fine-base-url={stub.url}",
            "--fine-dataset=pairs.jsonl",
            "--fine-forms=prefill",
        )
        result = project.runpytest(*args, "--fine-report=r.json", "-p", "no:cacheprovider")
    report = read_json(project.path / "r.json")
    if echoes:
        # Each reply is read as the opening and the continuation the server wrote after it.
        variant = report["items"][0]["forms"]["prefill"]["variants"][0]
        assert variant["answers"] == ["Sure. Actually, I can't help with that."] and result.ret == 0
        return
    # A server that continued without echoing cannot be told from one that answered anew: the run stops and says
    # why, and no prefill flip is counted against the model.
    assert result.ret == 1 and report["gate"]["passed"] is False and report["items"] == []
    result.stdout.fnmatch_lines(["*a reply begun for the model came back without that opening*"])
