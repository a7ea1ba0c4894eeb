"""The ``openai:`` back end: chat completions from any OpenAI-compatible server (``vllm serve`` and others).

``--model=openai:NAME --fine-base-url=http://host:port/v1``. Requests run concurrently up to a bound; 429, 5xx,
timeouts and dropped connections are retried with exponential backoff (honouring Retry-After). A refused
connection, a rejected key or an unknown model is one clear error, found before any prompt is sent. The API key
is read from the environment variable ``--fine-api-key-env`` names (default OPENAI_API_KEY) and is sent only in
the Authorization header: it is in no message, report or cache key.

Only the standard library is used, so this back end adds no dependency.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from functools import partial
from typing import Any, TypeVar
from urllib.parse import urlsplit

from ..errors import FineError
from ..fingerprint import DigestMemo
from . import (
    TOP_LOGPROBS,
    Answer,
    Conversation,
    Endpoint,
    LetterScores,
    ModelContext,
    PartialAnswers,
    PromptFailure,
    Sampling,
    Truncated,
    letter_mass,
)

T = TypeVar("T")
BASE_URL_ENVIRONMENT = ("FINE_PYTEST_BASE_URL", "OPENAI_BASE_URL")
RETRIED_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
# Words servers use when a prompt does not fit the model's context: that prompt fails alone, the run goes on.
CONTEXT_WORDS = ("context length", "maximum context", "max_model_len", "too long", "maximum input length")


class ServerError(Exception):
    """One request failed for good; ``retry`` says whether trying again could help."""

    def __init__(self, message: str, status: int | None = None, retry: bool = False, after: float | None = None):
        super().__init__(message)
        self.status = status
        self.retry = retry
        self.after = after


def resolve_base_url(endpoint: Endpoint, option: str, name: str) -> str:
    url = endpoint.base_url or next((os.environ[v] for v in BASE_URL_ENVIRONMENT if os.environ.get(v)), None)
    if not url:
        raise FineError(
            f"{option}=openai:{name}: no server address; give --fine-base-url=http://HOST:PORT/v1 "
            f"(or set {' or '.join(BASE_URL_ENVIRONMENT)})"
        )
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FineError(f"--fine-base-url={url}: expected http://HOST:PORT/v1 or https://...")
    return url.rstrip("/")


def check(name: str, option: str, run_user_code: bool = False) -> None:
    if not name.strip():
        raise FineError(f"{option}=openai:{name}: expected openai:MODEL_NAME, the name the server serves")


class Client:
    """A tiny JSON-over-HTTP client: one connection per request, so threads never share one."""

    def __init__(self, base_url: str, endpoint: Endpoint) -> None:
        self.base_url = base_url
        self.endpoint = endpoint
        parts = urlsplit(base_url)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or ""
        self._port = parts.port
        self._path = parts.path
        key = os.environ.get(endpoint.api_key_env, "")
        self._headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if key:
            self._headers["Authorization"] = f"Bearer {key}"

    def request(self, method: str, path: str, body: Any = None) -> Any:
        connection_type = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        connection = connection_type(self._host, self._port, timeout=self.endpoint.connect_timeout)
        try:
            try:
                connection.connect()
                assert connection.sock is not None
                connection.sock.settimeout(self.endpoint.timeout)
                payload = None if body is None else json.dumps(body).encode("utf-8")
                connection.request(method, self._path + path, body=payload, headers=self._headers)
                response = connection.getresponse()
                data = response.read()
            except ConnectionRefusedError:
                raise ServerError(f"cannot reach {self.base_url}: connection refused", retry=True) from None
            except TimeoutError:
                raise ServerError(
                    f"{self.base_url}: no response within {self.endpoint.timeout:g}s", retry=True
                ) from None
            except (ConnectionError, http.client.HTTPException, OSError) as error:
                raise ServerError(f"{self.base_url}: connection failed ({type(error).__name__})", retry=True) from None
            if response.status >= 400:
                raise _status_error(self.base_url, response, data)
            try:
                return json.loads(data)
            except ValueError:
                raise ServerError(f"{self.base_url}{path}: the server sent a reply that is not JSON") from None
        finally:
            connection.close()

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
                time.sleep(delay * (1 + 0.25 * random.random()))  # jitter: retries from many threads spread out
                attempt += 1


def _status_error(base_url: str, response: http.client.HTTPResponse, data: bytes) -> ServerError:
    status = response.status
    try:
        detail = json.loads(data)
        message = detail.get("error", detail) if isinstance(detail, dict) else detail
        if isinstance(message, dict):
            message = message.get("message", message)
    except ValueError:
        message = data[:200].decode("utf-8", "replace")
    after_header = response.getheader("Retry-After")
    after = float(after_header) if after_header and after_header.replace(".", "", 1).isdigit() else None
    text = f"{base_url}: HTTP {status}: {str(message)[:300]}"
    return ServerError(text, status=status, retry=status in RETRIED_STATUSES, after=after)


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
    entry = _find(served_models(client, option, name), name, base_url, option)
    return {"base_url": base_url, "model": name, "root": entry.get("root"), "owned_by": entry.get("owned_by")}


def _find(models: list[dict[str, Any]], name: str, base_url: str, option: str) -> dict[str, Any]:
    for model in models:
        if model.get("id") == name:
            return model
    served = ", ".join(str(model.get("id")) for model in models) or "nothing"
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
        self._client = Client(base_url, self._endpoint)
        _find(served_models(self._client, option, name), name, base_url, option)
        self._stop = threading.Event()

    def generate(self, conversations: Sequence[Conversation], samplings: Sequence[Sampling]) -> list[Answer]:
        return self._map([partial(self._complete, c, s) for c, s in zip(conversations, samplings, strict=True)])

    def score_letters(
        self, conversations: Sequence[Conversation], letters: Sequence[str], continue_final: bool = True
    ) -> list[LetterScores | PromptFailure]:
        """The letters' probabilities at the answer position, from the server's top log-probabilities.

        The conversation's last turn is the assistant's opening of the answer format; the server is asked to continue
        it (``continue_final_message``, as ``vllm serve`` accepts) by one token. A server that returns no
        log-probabilities is an error, never a silent fall back to generation.
        """
        return self._map([partial(self._score, c, tuple(letters), continue_final) for c in conversations])

    def _map(self, calls: Sequence[Callable[[], T]]) -> list[T]:
        """Run the calls concurrently, results in call order; a failure stops what was not yet sent."""
        answers: dict[int, T] = {}
        with ThreadPoolExecutor(max_workers=self._endpoint.concurrency, thread_name_prefix="fine-openai") as pool:
            futures: dict[Future[T], int] = {pool.submit(call): index for index, call in enumerate(calls)}
            done, pending = wait(futures, return_when=FIRST_EXCEPTION)
            failed = next((future for future in done if future.exception() is not None), None)
            if failed is not None:
                self._stop.set()  # requests not yet sent are dropped; those in flight finish or time out
                for future in pending:
                    future.cancel()
                wait(pending)
            for future, index in futures.items():
                if future.done() and not future.cancelled() and future.exception() is None:
                    answers[index] = future.result()
        self._stop.clear()
        if failed is not None:
            error = failed.exception()
            message = f"{self._option}={self.name}: {error}"
            # What did come back is kept: the caller caches it, and a re-run asks only for the rest.
            raise PartialAnswers(message, answers)  # type: ignore[arg-type]
        return [answers[index] for index in range(len(calls))]

    def _score(
        self, conversation: Conversation, letters: tuple[str, ...], continue_final: bool
    ) -> LetterScores | PromptFailure:
        if self._stop.is_set():
            raise ServerError("stopped after an earlier request failed")
        body: dict[str, Any] = {
            "model": self._model,
            "messages": list(conversation),
            "max_tokens": 1,
            "temperature": 0.0,
            "seed": 0,
            "logprobs": True,
            "top_logprobs": TOP_LOGPROBS,
            "add_generation_prompt": not continue_final,
            "continue_final_message": continue_final,
        }
        reply = self._post(body)
        if isinstance(reply, PromptFailure):
            return reply
        try:
            top = reply["choices"][0]["logprobs"]["content"][0]["top_logprobs"]
            pairs = [(str(entry["token"]), float(entry["logprob"])) for entry in top]
        except (KeyError, IndexError, TypeError, ValueError):
            raise FineError(
                f"log-probability scoring: {self._client.base_url} returned no log-probabilities for the answer "
                "(it must honour logprobs, top_logprobs and continue_final_message, as vllm serve does); read by "
                "generation with this server (--fine-mc-scoring=generate, --fine-judge-scoring=generate)"
            ) from None
        return letter_mass(pairs, letters)

    def _post(self, body: dict[str, Any]) -> Any:
        """One chat completion; a prompt the server refuses as too long fails alone, as a PromptFailure."""
        try:
            return self._client.call("POST", "/chat/completions", body)
        except ServerError as error:
            if error.status == 400 and any(word in str(error).lower() for word in CONTEXT_WORDS):
                return PromptFailure(f"the server refused the prompt: {str(error).split(': ', 2)[-1]}")
            raise

    def _complete(self, conversation: Conversation, sampling: Sampling) -> Answer:
        if self._stop.is_set():
            raise ServerError("stopped after an earlier request failed")
        body: dict[str, Any] = {
            "model": self._model,
            "messages": list(conversation),
            "max_tokens": sampling.max_tokens,
            "temperature": sampling.temperature,
            **dict(self._endpoint.extra),
        }
        if sampling.seed is not None:
            body["seed"] = sampling.seed
        reply = self._post(body)
        if isinstance(reply, PromptFailure):
            return reply
        try:
            choice = reply["choices"][0]
            text = choice["message"]["content"]
        except (KeyError, IndexError, TypeError):
            raise ServerError(f"{self._client.base_url}: a reply without choices[0].message.content") from None
        text = text if isinstance(text, str) else ""
        return Truncated(text) if choice.get("finish_reason") == "length" else text

    def close(self) -> None:
        self._stop.set()
