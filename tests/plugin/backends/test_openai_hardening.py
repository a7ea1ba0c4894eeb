"""The openai: back end against servers that misbehave on purpose: they echo the API key in errors, ask to be left
alone for an hour, drip their replies a byte at a time, send no content, or are cancelled mid-run by CI."""

from __future__ import annotations

import contextlib
import email.utils
import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from support import pair_lines, read_json
from test_openai import SECRET, Stub, conversations, model, serving

from fine_pytest.backends import openai as backend
from fine_pytest.backends.base import Endpoint, ModelContext, PartialAnswers, PromptFailure
from fine_pytest.backends.openai import OpenAIModel
from fine_pytest.core.errors import FineError
from fine_pytest.core.redact import REDACTED, redact
from fine_pytest.core.sampling import Sampling


@pytest.fixture
def server() -> Iterator[Stub]:
    with serving(Stub()) as running:
        yield running


def _everything_written(project: pytest.Pytester, result: pytest.RunResult) -> tuple[str, bytes]:
    """What a run showed (stdout, stderr, JUnit, report) and the bytes of every file its cache folder holds."""
    shown = result.stdout.str() + result.stderr.str()
    for name in ("junit.xml", "report.json"):
        if (project.path / name).exists():
            shown += (project.path / name).read_text(encoding="utf-8")
    stored = b"".join(path.read_bytes() for path in Path(project.path, ".pytest_cache").rglob("*") if path.is_file())
    return shown, stored


# Redaction -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "secrets", "expected"),
    [
        ("key sk-abc echoed", ["sk-abc"], f"key {REDACTED} echoed"),
        ("json: \\u00e9t\\u00e9", ["été"], f"json: {REDACTED}"),  # the key as a JSON string escapes it
        ("quoted a%2Fb", ["a/b"], f"quoted {REDACTED}"),  # percent-encoded, as in an echoed URL
        ("header Authorization: Bearer someone-elses.token", [], f"header Authorization: Bearer {REDACTED}"),
        ("a short key: k9 k9", ["k9"], f"a short key: {REDACTED} {REDACTED}"),
        ("regex characters a.b*c+(d) but not aXbbc", ["a.b*c+(d)"], f"regex characters {REDACTED} but not aXbbc"),
        ("a key read with its line break: sk-nl", ["sk-nl\n"], f"a key read with its line break: {REDACTED}"),
        ("LETTERS: RED", ["E"], f"L{REDACTED}TT{REDACTED}RS: R{REDACTED}D"),  # the marker is not searched again
        ("no key set: nothing changes", [""], "no key set: nothing changes"),
        ("a blank key: nothing changes", ["  "], "a blank key: nothing changes"),
    ],
)
def test_redact_hides_every_spelling_of_the_key_and_any_bearer_token(
    text: str, secrets: list[str], expected: str
) -> None:
    assert redact(text, secrets) == expected


ECHOES = {
    "500 echoing the header": (500, '{"error": {"message": "failed for {authorization}"}}'),
    "401 echoing the header": (401, '{"error": {"message": "Incorrect API key provided: {authorization}"}}'),
    "502 from a proxy, not JSON": (502, "upstream error; request headers: Authorization: {authorization}"),
    "500 with the bare key": (500, json.dumps({"error": {"message": f"unknown key {SECRET}"}})),
    # Cut at 300 characters by the client: redacting after the cut would let the key's first half through.
    "500 with the key at the cut": (500, json.dumps({"error": {"message": "x" * 285 + " " + SECRET}})),
}


@pytest.mark.slow
@pytest.mark.parametrize(("status", "body"), ECHOES.values(), ids=ECHOES.keys())
def test_a_key_the_server_echoes_is_in_no_error_message(
    server: Stub, monkeypatch: pytest.MonkeyPatch, status: int, body: str
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    server.key = SECRET
    server.faults = {number: (status, body, {}) for number in range(5)}
    with pytest.raises(PartialAnswers) as failed:
        model(server, concurrency=1, retries=0).generate(conversations(1), [Sampling(8)])
    message = str(failed.value)
    assert f"HTTP {status}" in message and REDACTED in message, message
    assert SECRET[:10] not in message, message


@pytest.mark.slow
def test_a_key_echoed_in_a_context_length_refusal_is_not_in_the_prompts_failure(
    server: Stub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    server.key = SECRET
    refusal = "This model's maximum context length is 512 tokens ({authorization})"
    server.faults = {1: (400, json.dumps({"error": {"message": refusal}}), {})}
    answers = model(server, concurrency=1).generate(conversations(2), [Sampling(8)] * 2)
    failure = answers[1]
    assert isinstance(failure, PromptFailure) and "maximum context length" in failure.reason
    assert REDACTED in failure.reason and SECRET not in failure.reason


END_TO_END_ECHOES = {
    # status, body, what the run shows of it
    "500": (500, '{"error": {"message": "internal error handling {authorization}"}}', "HTTP 500: internal error"),
    "401": (401, '{"error": {"message": "Incorrect API key provided: {authorization}"}}', "HTTP 401: Incorrect"),
    "400 context length": (
        400,
        '{"error": {"message": "maximum context length is 512 tokens; {authorization}"}}',
        "the server refused the prompt: maximum context length",
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize(("status", "body", "shown_as"), END_TO_END_ECHOES.values(), ids=END_TO_END_ECHOES.keys())
def test_end_to_end_an_echoed_key_reaches_no_output_junit_or_cache(
    project: pytest.Pytester, server: Stub, status: int, body: str, shown_as: str
) -> None:
    server.key = SECRET
    server.faults = {number: (status, body, {}) for number in range(100)}
    args = (
        "--model=openai:tiny",
        f"--fine-base-url={server.url}",
        "--fine-dataset=pairs.jsonl",
        "--fine-report=report.json",
        "--junitxml=junit.xml",
        "--fine-retries=0",
        "-v",
        "-rA",
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OPENAI_API_KEY", SECRET)
        result = project.runpytest(*args)
        again = project.runpytest(*args)  # a stored per-prompt failure is read back, not asked again
    assert result.ret == again.ret == 1
    shown, stored = _everything_written(project, result)
    assert shown_as in shown and REDACTED in shown  # the echo did reach the messages, redacted
    assert SECRET not in shown + again.stdout.str() + again.stderr.str()
    assert SECRET.encode() not in stored
    if status == 400:  # the per-prompt failures are in the cache, for later runs to reuse
        assert REDACTED.encode() in stored


@pytest.mark.slow
def test_a_key_with_a_line_break_is_refused_without_being_shown(server: Stub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", f"{SECRET}\nsecond-line")
    with pytest.raises(FineError) as refused:
        model(server)
    assert "OPENAI_API_KEY" in str(refused.value) and SECRET not in str(refused.value)


# Retry-After -----------------------------------------------------------------------------------------------------


def _header(label: str) -> str:
    """The Retry-After value a case names; HTTP dates are made when the test runs."""
    if label.startswith("an HTTP date"):
        offset = timedelta(hours=2) if label.endswith("ahead") else -timedelta(hours=2)
        return email.utils.format_datetime(datetime.now(UTC) + offset, usegmt=True)
    return label


RETRY_AFTER = {
    # header value: (a regex the error must match, or None when the request is retried and succeeds)
    "3600": r"HTTP 429: slow down \(the server asks to retry after 3600 s, longer than the 60 s this client waits",
    "an HTTP date two hours ahead": r"asks to retry after 7[12]\d\d(\.\d)? s, longer than the 60 s",
    "an HTTP date in the past": None,
    "0.2": None,
    "soon": None,  # not a delay: the backoff applies
    "-5": None,
    "1e9": None,
    "²": None,  # a digit to str.isdigit, not to float()
    "nan": None,
}


@pytest.mark.slow
@pytest.mark.parametrize("header", RETRY_AFTER)
def test_retry_after_is_capped_and_read_as_seconds_or_a_date(server: Stub, header: str) -> None:
    server.faults = {0: (429, '{"error": "slow down"}', {"Retry-After": _header(header)})}
    started = time.monotonic()
    expected = RETRY_AFTER[header]
    if expected is None:
        (answer,) = model(server, concurrency=1, retries=1).generate(conversations(1), [Sampling(8)])
        assert isinstance(answer, str) and answer and len(server.requests) == 2
    else:
        with pytest.raises(PartialAnswers, match=expected):
            model(server, concurrency=1, retries=1).generate(conversations(1), [Sampling(8)])
        assert len(server.requests) == 1  # not retried: a run cannot outwait it
    assert time.monotonic() - started < 3


@pytest.mark.slow
def test_no_wait_between_tries_is_longer_than_the_cap(server: Stub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backend, "RETRY_WAIT_CAP", 0.3)
    server.faults = {0: (503, "overloaded", {}), 1: (429, "slow down", {"Retry-After": "0.25"})}
    started = time.monotonic()
    # A 5 s backoff would sleep 5 s, then 10 s.
    (answer,) = model(server, concurrency=1, retries=2, backoff=5.0).generate(conversations(1), [Sampling(8)])
    took = time.monotonic() - started
    assert answer and len(server.requests) == 3
    assert 0.25 <= took < 1.5, took  # Retry-After under the cap is still honoured


# The whole-request timeout ---------------------------------------------------------------------------------------

DRIPS = {
    "the first reply drips, the retry succeeds": ({0: 0.2}, None),
    "every reply drips": ({0: 0.2, 1: 0.2}, r"no complete response within 0\.5s"),
}


@pytest.mark.slow
@pytest.mark.parametrize(("drip", "error"), DRIPS.values(), ids=DRIPS.keys())
def test_the_timeout_bounds_a_whole_reply_that_drips(server: Stub, drip: dict[int, float], error: str | None) -> None:
    server.drip = drip  # one byte every 0.2 s, headers included: no single read waits longer than that
    started = time.monotonic()
    endpoint = {"concurrency": 1, "retries": 1, "timeout": 0.5}
    if error is None:
        (answer,) = model(server, **endpoint).generate(conversations(1), [Sampling(8)])
        assert isinstance(answer, str) and answer.startswith("I can't help")
    else:
        with pytest.raises(PartialAnswers, match=error):
            model(server, **endpoint).generate(conversations(1), [Sampling(8)])
    took = time.monotonic() - started
    assert len(server.requests) == 2  # the dripping try timed out and was retried
    assert took < 2.5, took  # two tries of 0.5 s and a short backoff; a full drip takes over 40 s


# content: null ---------------------------------------------------------------------------------------------------


def _reply(content: object, finish: object) -> str:
    return json.dumps({"choices": [{"message": {"role": "assistant", "content": content}, "finish_reason": finish}]})


NO_CONTENT = {
    "null, stop": (_reply(None, "stop"), "the server returned no content (content: null, finish_reason=stop)"),
    "null, content_filter": (_reply(None, "content_filter"), "(content: null, finish_reason=content_filter)"),
    "null, no finish reason": (_reply(None, None), "(content: null, finish_reason=None)"),
    "a list": (_reply([{"type": "text", "text": "hi"}], "stop"), "(content is list, not text, finish_reason=stop)"),
    "null, echoing the key": (_reply(None, "{authorization}"), f"finish_reason=Bearer {REDACTED})"),
}


@pytest.mark.slow
@pytest.mark.parametrize(("body", "reason"), NO_CONTENT.values(), ids=NO_CONTENT.keys())
def test_a_reply_without_content_fails_its_prompt_instead_of_reading_as_empty(
    server: Stub, monkeypatch: pytest.MonkeyPatch, body: str, reason: str
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    server.faults = {1: (200, body, {})}
    answers = model(server, concurrency=1).generate(conversations(3), [Sampling(8)] * 3)
    assert isinstance(answers[1], PromptFailure) and reason in answers[1].reason, answers[1]
    assert isinstance(answers[0], str) and isinstance(answers[2], str) and answers[0] and answers[2]


@pytest.mark.slow
def test_end_to_end_pairs_without_content_have_no_verdict_and_fail_the_gate(
    project: pytest.Pytester, server: Stub
) -> None:
    server.faults = {number: (200, _reply(None, "stop"), {}) for number in range(100)}
    args = ("--model=openai:tiny", f"--fine-base-url={server.url}", "--fine-dataset=pairs.jsonl")
    result = project.runpytest(*args, "--fine-report=r.json", "--fine-threshold=0")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*FINE pair * has no verdict: open prompt: the server returned no content*"])
    # Every pair failed: no scope is said to have no pairs selected.
    result.stdout.fnmatch_lines(
        [
            "  FAIL  CSS overall: nothing to score (no harmful pair was evaluated)",
            "*5 of 5 selected pairs have no verdict*",
        ]
    )
    assert "no pairs selected" not in result.stdout.str()
    # Identical failures are said once, with their count: the terminal, the report and the Markdown summary.
    result.stdout.fnmatch_lines(["        5 without a verdict: open prompt: the server returned no content*"])
    assert sum(read_json(project.path / "r.json")["run"]["no_verdict"].values()) == 5
    gate = read_json(project.path / "r.json")["gate"]
    assert gate["passed"] is False and gate["evaluated"] == 0
    # The failures were the server's, not the model's answers: the next run asks again and gets real ones.
    server.faults = {}
    again = project.runpytest(*args, "--fine-report=r.json", "--fine-threshold=0")
    report = read_json(project.path / "r.json")
    assert again.ret == 0 and report["gate"]["complete"] is True
    assert (report["run"]["generated"], report["run"]["cached"]) == (15, 0)


# Redirects, replies that are not JSON, replies too large to be an answer -----------------------------------------


def test_a_redirect_and_a_reply_that_is_not_json_name_the_status_and_where_it_points(server: Stub) -> None:
    server.faults = {0: (307, "", {"Location": "http://127.0.0.1:9/elsewhere/v1/chat/completions"})}
    redirect = r"HTTP 307: the server redirects to http://127\.0\.0\.1:9/elsewhere/v1/chat/completions; redirects"
    with pytest.raises(FineError, match=redirect):
        model(server, retries=0, concurrency=1).generate(conversations(1), [Sampling(8)])
    server.faults = {1: (200, "<html>a login page</html>", {"Content-Type": "text/html"})}
    not_json = r"HTTP 200: the server sent a reply that is not JSON \(Content-Type: text/html\)"
    with pytest.raises(FineError, match=not_json):
        model(server, retries=0, concurrency=1).generate(conversations(1), [Sampling(8)])


def test_a_reply_too_large_to_be_an_answer_fails_its_prompt_alone(
    server: Stub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(backend, "MAX_REPLY_BYTES", 4000)
    server.faults = {1: (200, _reply("x" * 5000, "stop"), {})}
    answers = model(server, concurrency=1).generate(conversations(3), [Sampling(8)] * 3)
    assert isinstance(answers[1], PromptFailure) and "a reply over" in answers[1].reason, answers[1]
    assert isinstance(answers[0], str) and isinstance(answers[2], str)


# SIGTERM with requests in flight ---------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("chunk", ["--fine-chunk-size=25", "--fine-chunk-size=512"])
def test_sigterm_stops_sending_keeps_finished_answers_and_exits_at_once(
    project: pytest.Pytester, server: Stub, chunk: str
) -> None:
    # A CI cancel. 60 prompts: the first 25 are answered at once; after them every request takes 1 s, two at a
    # time, so sending the rest before stopping would take over 10 s. In chunks of 25 the first chunk is cached
    # when it ends; in one chunk of 60 the finished answers must be cached when the interrupt arrives.
    pairs = [{"id": n, "category": "Alpha", "question": f"q{n} question {n}?"} for n in range(1, 21)]
    Path(project.path, "pairs.jsonl").write_text(pair_lines(pairs), encoding="utf-8")
    server.delay = {number: 0.01 if number < 25 else 1.0 for number in range(100)}
    command = [sys.executable, "-m", "pytest", "--model=openai:tiny", f"--fine-base-url={server.url}"]
    command += ["--fine-dataset=pairs.jsonl", "--fine-concurrency=2", chunk, "--fine-threshold=0"]
    # Without hypothesis's plugin, whose import at the summary takes a second of its own on a slow machine.
    command += ["--fine-report=r.json", "-p", "no:randomly", "-p", "no:hypothesispytest"]
    process = subprocess.Popen(command, cwd=project.path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while len(server.requests) < 27:  # the first chunk is back (and cached); two of the second are in flight
            assert process.poll() is None, "pytest ended before the signal:\n" + process.communicate()[0]
            assert time.monotonic() < deadline, "the server got fewer than 27 requests in 60 s"
            time.sleep(0.02)
        sent = len(server.requests)
        signalled = time.monotonic()
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=90)
        took = time.monotonic() - signalled
    finally:
        process.kill()
    assert process.returncode == 2, output  # pytest's interrupted status
    assert took < 5, f"{took:.1f} s after SIGTERM\n{output}"
    assert "KeyboardInterrupt" in output and "the run was interrupted" in output, output
    assert "FINE gate PASSED" not in output
    assert len(server.requests) - sent <= 2, (sent, len(server.requests))  # nothing queued was sent after it
    gate = read_json(project.path / "r.json")["gate"]
    assert gate["passed"] is False and gate["interrupted"] is True
    (database,) = Path(project.path, ".pytest_cache").rglob("responses.sqlite")
    with contextlib.closing(sqlite3.connect(database)) as connection:
        kept = connection.execute("SELECT COUNT(*) FROM answers WHERE answer IS NOT NULL").fetchone()[0]
    assert kept >= 25  # the answers that finished before the signal


@pytest.mark.slow
def test_a_key_echoed_in_an_answer_is_redacted_before_it_is_cached_or_judged(
    server: Stub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    server.key = SECRET
    server.answer = lambda body: f"I see your header Bearer {SECRET} and the key {SECRET}"  # type: ignore[method-assign]
    [answer] = model(server, concurrency=1).generate(conversations(1), [Sampling(8)])
    assert SECRET not in str(answer) and str(answer).count(REDACTED) == 2, answer


@pytest.mark.slow
def test_served_model_names_in_an_error_are_redacted_and_made_visible(
    server: Stub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    server.key = SECRET
    server.models = ["tiny", f"echo {SECRET} \x1b[2J"]
    with pytest.raises(FineError) as failed:
        OpenAIModel("absent", context=ModelContext(endpoint=Endpoint(base_url=server.url)))
    message = str(failed.value)
    assert "does not serve 'absent'" in message and SECRET not in message and "\x1b" not in message, message
    assert REDACTED in message and "\\x1b[2J" in message


# Credentials in the server's URL ----------------------------------------------------------------------------------

URL_KEY = "sk-url-9876543210-do-not-print"


@pytest.mark.parametrize(
    ("url", "shown", "secrets"),
    [
        ("http://127.0.0.1:8000/v1", "http://127.0.0.1:8000/v1", []),
        (f"http://user:{URL_KEY}@host:8000/v1", f"http://{REDACTED}@host:8000/v1", [URL_KEY]),
        (f"https://{URL_KEY}@host/v1", f"https://{REDACTED}@host/v1", [URL_KEY]),
        (
            f"https://host/v1?api-version=2024-06-01&api-key={URL_KEY}",
            f"https://host/v1?api-version=2024-06-01&api-key={REDACTED}",
            [URL_KEY],
        ),
        (
            f"https://host/v1?access_token={URL_KEY}&sig=abc",
            f"https://host/v1?access_token={REDACTED}&sig={REDACTED}",
            [URL_KEY, "abc"],
        ),  # fmt: skip
        ("http://[::1:80/v1", REDACTED, ["http://[::1:80/v1"]),  # not a URL: shown as nothing at all
    ],
)
def test_a_url_is_shown_without_its_credentials(url: str, shown: str, secrets: list[str]) -> None:
    from fine_pytest.core.redact import shown_url, url_secrets

    assert shown_url(url) == shown
    assert url_secrets(url) == secrets


URL_FAULTS = {
    "429": (429, '{"error": {"message": "slow down"}}', {}),
    "a reply that is not JSON": (200, "<html>gateway</html>", {}),
    "401": (401, '{"error": {"message": "no such key"}}', {}),
    # A redirect names where it points: a Location that carries the credentials is shown without them.
    "302": (302, "", {"Location": f"http://user:{URL_KEY}@elsewhere:1/v1/models?api-key={SECRET}"}),
}


@pytest.mark.slow
@pytest.mark.parametrize(("status", "body", "headers"), URL_FAULTS.values(), ids=URL_FAULTS.keys())
def test_a_credential_in_the_base_url_reaches_no_output_report_or_cache(
    project: pytest.Pytester, server: Stub, status: int, body: str, headers: dict[str, str]
) -> None:
    server.faults = {number: (status, body, headers) for number in range(100)}
    url = server.url.replace("http://", f"http://user:{URL_KEY}@") + f"?api-version=1&api-key={SECRET}"
    result = project.runpytest(
        "--model=openai:tiny", f"--fine-base-url={url}", "--fine-dataset=pairs.jsonl", "--fine-report=report.json",
        "--fine-html=report.html", "--junitxml=junit.xml", "--fine-retries=0", "-v", "-rA",
    )  # fmt: skip
    assert result.ret != 0
    shown, stored = _everything_written(project, result)
    if (project.path / "report.html").exists():
        shown += (project.path / "report.html").read_text(encoding="utf-8")
    assert "127.0.0.1" in shown and REDACTED in shown, shown[-2000:]  # the server is named, its credentials not
    for secret in (URL_KEY, SECRET):
        assert secret not in shown and secret.encode() not in stored


# Checked once before any work ------------------------------------------------------------------------------------


def test_the_up_front_check_shows_server_text_escaped(project: pytest.Pytester, server: Stub) -> None:
    forged = json.dumps({"error": {"message": "bad \x1b[2J\x1b[31m\nFINE gate PASSED"}})
    server.list_fault = (404, forged, {})
    result = project.runpytest("--model=openai:tiny", f"--fine-base-url={server.url}", "--fine-dataset=pairs.jsonl")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    shown = result.stdout.str() + result.stderr.str()
    assert "\x1b" not in shown and "\\x1b[2J" in shown
    assert not any(line.startswith("FINE gate PASSED") for line in shown.splitlines())


def test_an_llm_judge_on_a_server_that_cannot_be_reached_is_one_error_before_any_work(
    project: pytest.Pytester,
) -> None:
    result = project.runpytest(
        "--model=py:scripted:model", "--fine-judge=openai:judge", "--fine-base-url=http://127.0.0.1:9/v1",
        "--fine-retries=0", "--fine-dataset=pairs.jsonl",
    )  # fmt: skip
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--fine-judge=openai:judge: cannot reach http://127.0.0.1:9/v1*"])
    assert not (project.path / "calls.log").exists()  # the model under test was never asked
