"""The ``openai:`` back end: chat completions from any OpenAI-compatible server (``vllm serve`` and others).

``--model=openai:NAME --fine-base-url=http://host:port/v1``. Requests run concurrently up to a bound; 429, 5xx,
timeouts and dropped connections are retried with exponential backoff (honouring Retry-After). A refused
connection, a rejected key or an unknown model is one clear error, found before any prompt is sent. The API key
is read from the environment variable ``--fine-api-key-env`` names (default OPENAI_API_KEY) and is sent only in
the Authorization header: it is in no message, report or cache key. Server text can echo it back, so every
message and per-prompt failure built from server text is redacted (``fine_pytest.core.redact``) where it is made.

- ``--fine-timeout`` bounds a whole try: connecting, sending and reading the complete reply. A server that drips
  bytes is cut at the limit, as one that says nothing is; the try counts as a timeout and is retried.
  ``--fine-connect-timeout`` bounds the connection alone, within that.
- No wait between tries is longer than ``RETRY_WAIT_CAP`` (60 s), backoff included. Retry-After is read as
  seconds or as an HTTP date; any other value is ignored (the backoff applies). A server that asks for a longer
  wait than the cap is not waited out: the request fails at once, naming the delay asked for.
- A reply whose ``content`` is null (or not text) is no answer: that prompt fails alone, as a PromptFailure
  naming the finish reason, so its pair has no verdict and cannot pass. It is never read as an empty answer.
- An interrupt (Ctrl-C, or SIGTERM, which ``plugin.signals.termination_as_interrupt`` turns into one) stops the batch at
  once: queued requests are never sent, those in flight are cut, and the interrupt goes on unwinding, carrying
  the answers already back (``InterruptedAnswers``), which ``pipeline.evaluate.fill`` caches before it lets it go on.

Only the standard library is used, so this back end adds no dependency.

Longer than 300 lines: the HTTP client and the back end share one set of failure rules (retries, deadlines,
cancellation, redaction), which are easier to check when they are read together.
"""

from __future__ import annotations

import contextlib
import email.utils
import http.client
import json
import os
import random
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import UTC
from functools import partial
from typing import Any, TypeVar
from urllib.parse import urlsplit

from fine_pytest.backends.base import (
    Answer,
    Conversation,
    Endpoint,
    InterruptedAnswers,
    LetterScores,
    ModelContext,
    PartialAnswers,
    PromptFailure,
    Streamed,
    collected,
)
from fine_pytest.backends.chat_format import (
    CONTEXT_WORDS,
    MalformedReply,
    completion_body,
    continued_text,
    read_completion,
    read_scores,
    scoring_body,
)
from fine_pytest.core.errors import FineError
from fine_pytest.core.fingerprint import DigestMemo
from fine_pytest.core.json_input import parse_json
from fine_pytest.core.redact import redact, shown_url, url_secrets
from fine_pytest.core.safe_text import visible
from fine_pytest.core.sampling import Sampling

T = TypeVar("T")
BASE_URL_ENVIRONMENT = ("FINE_PYTEST_BASE_URL", "OPENAI_BASE_URL")
RETRIED_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
# The longest wait between two tries, in seconds, whether Retry-After asks for it or the backoff reaches it: a run
# must not sleep for an hour because a server said so. A module constant, so a test can lower it.
RETRY_WAIT_CAP = 60.0
STOPPED = "stopped: no more requests are sent"
# A chat completion's reply holds one answer: far more than this is no answer, and reading it whole would only fill
# memory (a reply past the bound fails its own prompt).
MAX_REPLY_BYTES = 16 * 1024 * 1024


class ServerError(Exception):
    """One request failed for good; ``retry`` says whether trying again could help."""

    def __init__(
        self,
        message: str,
        status: int | None = None,
        retry: bool = False,
        after: float | None = None,
        one_prompt: bool = False,
    ):
        super().__init__(message)
        self.status = status
        self.retry = retry
        self.after = after
        self.one_prompt = one_prompt  # the failure is this prompt's alone (its reply was too large)


def resolve_base_url(endpoint: Endpoint, option: str, name: str) -> str:
    url = endpoint.base_url or next((os.environ[v] for v in BASE_URL_ENVIRONMENT if os.environ.get(v)), None)
    if not url:
        raise FineError(
            f"{option}=openai:{name}: no server address; give --fine-base-url=http://HOST:PORT/v1 "
            f"(or set {' or '.join(BASE_URL_ENVIRONMENT)})"
        )
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - a port that is not a number raises here, not at the first request
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise FineError(f"--fine-base-url={shown_url(url)}: expected http://HOST:PORT/v1 or https://...")
    return url.rstrip("/")


def check(name: str, option: str, run_user_code: bool = False) -> None:
    if not name.strip():
        raise FineError(f"{option}=openai:{name}: expected openai:MODEL_NAME, the name the server serves")


class Client:
    """A tiny JSON-over-HTTP client: one connection per request, so threads never share one."""

    def __init__(self, base_url: str, endpoint: Endpoint, stop: threading.Event | None = None) -> None:
        # What messages, reports and cache keys name: the URL without the credentials it may carry.
        self.base_url = shown_url(base_url)
        self.endpoint = endpoint
        parts = urlsplit(base_url)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or ""
        self._port = parts.port
        self._path = parts.path
        raw = os.environ.get(endpoint.api_key_env, "")
        key = raw.strip()  # a key read from a file keeps its line break; a header cannot carry one
        self._secrets = (raw, key, *url_secrets(base_url))
        if key and not (key.isascii() and key.isprintable()):
            # http.client's own error would quote the whole header, key included.
            raise FineError(
                f"the API key in ${endpoint.api_key_env} has a character an HTTP header cannot carry "
                "(a control character or a non-ASCII one); the value is not shown"
            )
        self._headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if key:
            self._headers["Authorization"] = f"Bearer {key}"
        self._stop = stop if stop is not None else threading.Event()
        self._lock = threading.Lock()
        self._guards: set[socket.socket] = set()  # one per request in flight; shut down to cut it

    def scrub(self, text: str) -> str:
        """Text without the API key or any bearer token: for everything built from what a server sent."""
        return redact(text, self._secrets)

    def request(self, method: str, path: str, body: Any = None) -> Any:
        """One try. ``endpoint.timeout`` bounds all of it (connect, send, the whole reply), not each read."""
        if self._stop.is_set():
            raise ServerError(STOPPED)
        timeout = self.endpoint.timeout
        deadline = time.monotonic() + timeout
        connect_timeout = min(self.endpoint.connect_timeout, timeout)
        connection_type = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        connection = connection_type(self._host, self._port, timeout=connect_timeout)
        try:
            try:
                connection.connect()
            except ConnectionRefusedError:
                raise ServerError(f"cannot reach {self.base_url}: connection refused", retry=True) from None
            except TimeoutError:
                raise ServerError(f"{self.base_url}: no connection within {connect_timeout:g}s", retry=True) from None
            except OSError as error:
                raise ServerError(f"{self.base_url}: connection failed ({type(error).__name__})", retry=True) from None
            assert connection.sock is not None
            with self._cut_at(connection.sock, deadline) as expired:
                try:
                    connection.sock.settimeout(max(deadline - time.monotonic(), 0.001))
                    payload = None if body is None else json.dumps(body).encode("utf-8")
                    connection.request(method, self._path + path, body=payload, headers=self._headers)
                    response = connection.getresponse()
                    data = response.read(MAX_REPLY_BYTES + 1)
                except (http.client.HTTPException, OSError) as error:  # TimeoutError and ConnectionError included
                    raise self._broken(error, expired.is_set()) from None
                if expired.is_set():
                    raise self._broken(TimeoutError(), True)  # cut at the deadline: the reply may be incomplete
            where = f"{self.base_url}{path}: HTTP {response.status}"
            if len(data) > MAX_REPLY_BYTES:
                raise ServerError(f"{where}: a reply over {MAX_REPLY_BYTES // 2**20} MiB, not read", one_prompt=True)
            if response.status >= 400:
                raise _status_error(self.base_url, response, data, self.scrub)
            if 300 <= response.status < 400:
                location = visible(self.scrub(shown_url(response.getheader("Location") or "(no Location)")))[:300]
                raise ServerError(
                    f"{where}: the server redirects to {location}; redirects are not followed: give the address "
                    "the server answers at as --fine-base-url"
                )
            try:
                return parse_json(data)
            except ValueError:
                kind = visible(self.scrub(str(response.getheader("Content-Type") or "none")))[:80]
                raise ServerError(f"{where}: the server sent a reply that is not JSON (Content-Type: {kind})") from None
        finally:
            connection.close()

    def _broken(self, error: BaseException, expired: bool) -> ServerError:
        if self._stop.is_set():
            return ServerError(STOPPED)
        if expired or isinstance(error, TimeoutError):
            return ServerError(f"{self.base_url}: no complete response within {self.endpoint.timeout:g}s", retry=True)
        return ServerError(f"{self.base_url}: connection failed ({type(error).__name__})", retry=True)

    @contextlib.contextmanager
    def _cut_at(self, sock: socket.socket, deadline: float) -> Iterator[threading.Event]:
        """Shut the connection down at the deadline, whatever read or write is under way; the event says it was.

        A socket timeout bounds each read only, so a server sending a byte at a time never hits it.
        """
        expired = threading.Event()
        # A descriptor of our own for the same connection: shutting it down cannot race http.client closing its one.
        guard = socket.fromfd(sock.fileno(), sock.family, sock.type)

        def expire() -> None:
            expired.set()
            self._cut(guard)

        watchdog = threading.Timer(max(0.0, deadline - time.monotonic()), expire)
        watchdog.daemon = True
        with self._lock:
            self._guards.add(guard)
            stopped = self._stop.is_set()  # checked under the lock: abort() cuts this request, or this sees the stop
        try:
            if stopped:
                raise ServerError(STOPPED)
            watchdog.start()
            yield expired
        finally:
            watchdog.cancel()
            with self._lock:
                self._guards.discard(guard)
            guard.close()

    def _cut(self, guard: socket.socket) -> None:
        with self._lock:
            if guard in self._guards:
                with contextlib.suppress(OSError):
                    guard.shutdown(socket.SHUT_RDWR)

    def abort(self) -> None:
        """Send nothing more, and cut the requests in flight now rather than wait for their replies."""
        self._stop.set()
        with self._lock:
            guards = list(self._guards)
        for guard in guards:
            self._cut(guard)

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """``request`` with retries and exponential backoff on the failures that can pass."""
        attempt = 0
        while True:
            try:
                return self.request(method, path, body)
            except ServerError as error:
                if not error.retry or attempt >= self.endpoint.retries:
                    raise
                delay = error.after if error.after is not None else self.endpoint.backoff * 2**attempt
                # Jitter spreads the retries of many threads; a stop ends the wait at once.
                if self._stop.wait(min(RETRY_WAIT_CAP, delay * (1 + 0.25 * random.random()))):
                    raise ServerError(STOPPED) from None
                attempt += 1


def retry_after(value: str | None) -> float | None:
    """The seconds a Retry-After header asks for: a number of seconds or an HTTP date; None for anything else."""
    value = (value or "").strip()
    if re.fullmatch(r"[0-9]+(\.[0-9]+)?", value):  # ASCII digits only: float() refuses other scripts' digits
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)  # HTTP dates are in GMT
    return max(0.0, when.timestamp() - time.time())


def _seconds(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _status_error(
    base_url: str, response: http.client.HTTPResponse, data: bytes, scrub: Callable[[str], str]
) -> ServerError:
    status = response.status
    try:
        detail = parse_json(data)
        message = detail.get("error", detail) if isinstance(detail, dict) else detail
        if isinstance(message, dict):
            message = message.get("message", message)
    except ValueError:
        message = data[:4000].decode("utf-8", "replace")
    # Redacted before it is cut: a key cut in half would get past the redaction.
    text = f"{base_url}: HTTP {status}: {scrub(str(message))[:300]}"
    retry = status in RETRIED_STATUSES
    after = retry_after(response.getheader("Retry-After")) if retry else None
    if after is not None and after > RETRY_WAIT_CAP:
        text += (
            f" (the server asks to retry after {_seconds(after)} s, longer than the {_seconds(RETRY_WAIT_CAP)} s "
            "this client waits: try again later)"
        )
        retry = False
    return ServerError(text, status=status, retry=retry, after=after)


def served_models(client: Client, option: str, name: str) -> list[dict[str, Any]]:
    """The server's model list; the errors a user can fix (no server, bad key) are said once, here."""
    try:
        listing = client.call("GET", "/models")
    except ServerError as error:
        if error.status in (401, 403):
            raise FineError(
                f"{option}=openai:{name}: the server at {client.base_url} refused the API key "
                f"(HTTP {error.status}); set it in the environment variable {client.endpoint.api_key_env} "
                "(or name another with --fine-api-key-env)"
            ) from None
        raise FineError(f"{option}=openai:{name}: {error}") from None
    models = listing.get("data") if isinstance(listing, dict) else None
    if not isinstance(models, list):
        raise FineError(f"{option}=openai:{name}: {client.base_url}/models did not list models")
    return [model for model in models if isinstance(model, dict)]


def identity(name: str, option: str, context: ModelContext, memo: DigestMemo | None = None) -> dict[str, Any]:
    """The server and what it says it serves under NAME (vLLM reports the model's path as ``root``).

    Weights behind a server cannot be hashed from here: a server that swaps weights under the same name and root
    should be given a new name, or the cache cleared. The key holds no secret: the API key is not part of it.
    """
    endpoint = context.endpoint
    base_url = resolve_base_url(endpoint, option, name)
    client = Client(base_url, endpoint)
    entry = _find(served_models(client, option, name), name, client.base_url, option, client.scrub)
    return {"base_url": client.base_url, "model": name, "root": entry.get("root"), "owned_by": entry.get("owned_by")}


def probe(name: str, option: str, context: ModelContext) -> None:
    """No address, no server, a refused key or a name the server does not serve: one error, before any work."""
    identity(name, option, context)


def _find(
    models: list[dict[str, Any]], name: str, base_url: str, option: str, scrub: Callable[[str], str]
) -> dict[str, Any]:
    for model in models:
        if model.get("id") == name:
            return model
    # The served names are server text: redacted, and shown with control characters visible.
    served = visible(scrub(", ".join(str(model.get("id")) for model in models))) or "nothing"
    raise FineError(f"{option}=openai:{name}: the server at {base_url} does not serve '{name}' (it serves: {served})")


class OpenAIModel:
    """Concurrent chat completions; answers keep the order of the prompts."""

    def __init__(self, name: str, option: str = "--model", context: ModelContext | None = None) -> None:
        context = context or ModelContext()
        self.name = f"openai:{name}"
        self._model = name
        self._option = option
        self._endpoint = context.endpoint
        base_url = resolve_base_url(self._endpoint, option, name)
        self._stop = threading.Event()
        self._client = Client(base_url, self._endpoint, self._stop)
        _find(served_models(self._client, option, name), name, self._client.base_url, option, self._client.scrub)

    def generate(self, conversations: Sequence[Conversation], samplings: Sequence[Sampling]) -> list[Answer]:
        return collected(self.generate_stream(conversations, samplings), len(conversations))

    def generate_stream(self, conversations: Sequence[Conversation], samplings: Sequence[Sampling]) -> Streamed[Answer]:
        """The answers as the replies come, by position: the caller stores each at once."""
        return self._stream([partial(self._complete, c, s) for c, s in zip(conversations, samplings, strict=True)])

    def score_letters(
        self, conversations: Sequence[Conversation], letters: Sequence[str], continue_final: bool = True
    ) -> list[LetterScores | PromptFailure]:
        """The letters' probabilities at the answer position, from the server's top log-probabilities.

        The conversation's last turn is the assistant's opening of the answer format; the server is asked to continue
        it (``continue_final_message``, as ``vllm serve`` accepts) by one token. A server that returns no
        log-probabilities is an error, never a silent fall back to generation.
        """
        return collected(self.score_stream(conversations, letters, continue_final), len(conversations))

    def score_stream(
        self, conversations: Sequence[Conversation], letters: Sequence[str], continue_final: bool = True
    ) -> Streamed[LetterScores | PromptFailure]:
        return self._stream([partial(self._score, c, tuple(letters), continue_final) for c in conversations])

    def _stream(self, calls: Sequence[Callable[[], T]]) -> Streamed[T]:
        """Run the calls with at most ``concurrency`` requests open, giving each result, by position, as it comes.

        Only a window of calls is handed to the pool at a time, so a run of 100,000 prompts holds a few hundred
        pending calls, not 100,000. A failure stops what was not yet sent; the replies still in flight are awaited
        and given, then the failure is raised. An interrupt, or a caller that stops reading, sends nothing more and
        cuts the requests in flight rather than await them; the model then stays stopped.
        """
        pool = ThreadPoolExecutor(max_workers=self._endpoint.concurrency, thread_name_prefix="fine-openai")
        window = 2 * self._endpoint.concurrency  # queued ahead, so no thread waits between replies
        waiting = iter(enumerate(calls))
        pending: dict[Future[T], int] = {}
        failed: Future[T] | None = None
        try:
            while True:
                while failed is None and len(pending) < window and (call := next(waiting, None)) is not None:
                    pending[pool.submit(call[1])] = call[0]
                if not pending:
                    break
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                finished = []
                for future in done:
                    index = pending.pop(future)
                    if future.cancelled():
                        continue
                    if future.exception() is not None:
                        failed = failed or future
                    else:
                        finished.append((index, future.result()))
                if failed is not None and pending:
                    self._stop.set()  # requests not yet sent are dropped; those in flight finish or time out
                    for future in pending:
                        future.cancel()
                if finished:
                    yield finished
        except BaseException as stop:
            self._client.abort()
            pool.shutdown(wait=False, cancel_futures=True)
            if isinstance(stop, KeyboardInterrupt):
                raise InterruptedAnswers(str(stop), {}) from stop  # the caller holds the answers already given
            raise
        pool.shutdown()
        self._stop.clear()
        if failed is not None:
            message = self._client.scrub(f"{self._option}={self.name}: {failed.exception()}")
            # What did come back was given already: the caller caches it, and a re-run asks only for the rest.
            raise PartialAnswers(message, {})

    def _score(
        self, conversation: Conversation, letters: tuple[str, ...], continue_final: bool
    ) -> LetterScores | PromptFailure:
        if self._stop.is_set():
            raise ServerError("stopped after an earlier request failed")
        body = scoring_body(self._model, conversation, continue_final)
        reply = self._post(body)
        if isinstance(reply, PromptFailure):
            return reply
        try:
            return read_scores(reply, letters)
        except MalformedReply:
            raise FineError(
                f"log-probability scoring: {self._client.base_url} returned no log-probabilities for the answer "
                "(it must honour logprobs, top_logprobs and continue_final_message, as vllm serve does); read by "
                "generation with this server (--fine-mc-scoring=generate, --fine-judge-scoring=generate)"
            ) from None

    def _post(self, body: dict[str, Any]) -> Any:
        """One chat completion; a prompt the server refuses as too long fails alone, as a PromptFailure."""
        try:
            return self._client.call("POST", "/chat/completions", body)
        except ServerError as error:
            if error.one_prompt:
                return PromptFailure(str(error).split(": ", 1)[-1])
            if error.status == 400 and any(word in str(error).lower() for word in CONTEXT_WORDS):
                # str(error) is redacted already: this reason is shown, and stored in the cache for later runs.
                return PromptFailure(f"the server refused the prompt: {str(error).split(': ', 2)[-1]}")
            raise

    def _complete(self, conversation: Conversation, sampling: Sampling) -> Answer:
        if self._stop.is_set():
            raise ServerError("stopped after an earlier request failed")
        reply = self._post(completion_body(self._model, conversation, sampling))
        if isinstance(reply, PromptFailure):
            return reply
        try:
            # A server (or a model that saw the header) can echo the key in the answer itself; the answer is cached,
            # judged and shown, so it is redacted like every other text from the server.
            return continued_text(read_completion(reply, self._client.scrub), conversation, sampling)
        except MalformedReply as error:
            raise ServerError(f"{self._client.base_url}: {error}") from None

    def close(self) -> None:
        self._client.abort()
