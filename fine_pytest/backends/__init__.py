"""Model back ends behind a small registry.

A back end turns a list of chat conversations, each with its own sampling settings, into a list of answers, in one
batched call: open answers and multiple-choice answers go in together, so the engine schedules all of them at once
(a short MC answer finishes and frees its slot while long open answers still run). Each back end lives in
its own module and is imported only when a spec selects it, so loading the plugin never imports vllm, torch or
transformers.
"""

from __future__ import annotations

import importlib
from typing import Any

from fine_pytest.backends.base import Model, ModelContext
from fine_pytest.core.errors import FineError

# scheme -> "module:factory"; the factory takes the rest of the spec and returns a Model. The module also defines
# identity(rest, option, context, memo) for cache keys, and may define check(rest, option, run_user_code) to
# validate a spec cheaply before collection.
_REGISTRY: dict[str, str] = {
    "py": "fine_pytest.backends.python:PythonModel",
    "vllm": "fine_pytest.backends.vllm:VllmModel",
    "openai": "fine_pytest.backends.openai:OpenAIModel",
}


def available() -> list[str]:
    return sorted(_REGISTRY)


def split_spec(spec: str, option: str = "--model") -> tuple[str, str]:
    """``scheme:rest`` for a known scheme; a local path or an embedded model name goes to vLLM."""
    from fine_pytest.backends.embedded import EMBEDDED
    from fine_pytest.backends.vllm import is_model_path

    scheme, sep, rest = spec.partition(":")
    if sep and scheme in _REGISTRY:
        return scheme, rest
    if spec in EMBEDDED or is_model_path(spec):
        return "vllm", spec
    known = ", ".join([f"{name}:..." for name in available()] + sorted(EMBEDDED) + ["a model folder or .gguf file"])
    raise FineError(f"{option}: no back end for '{spec}' (available: {known})")


def check_spec(spec: str, option: str = "--model", run_user_code: bool = False) -> None:
    """Validate a spec without loading a model: a clear error now beats one later.

    User code (a py: module) is imported only with ``run_user_code``, i.e. once a run is known to need it.
    """
    scheme, rest = split_spec(spec, option)
    module = importlib.import_module(_REGISTRY[scheme].partition(":")[0])
    check = getattr(module, "check", None)
    if check is not None:
        check(rest, option, run_user_code)


def probe(spec: str, option: str = "--model", context: ModelContext | None = None) -> None:
    """Ask a served model's server, once and before any test runs, whether it can serve this run (reachable, key
    accepted, name served): a FineError says what to fix. Back ends without a server have nothing to ask."""
    scheme, rest = split_spec(spec, option)
    module = importlib.import_module(_REGISTRY[scheme].partition(":")[0])
    ask = getattr(module, "probe", None)
    if ask is not None:
        ask(rest, option, context or ModelContext())


def identity(spec: str, option: str = "--model", context: ModelContext | None = None, memo: Any = None) -> Any:
    """What a model's answers depend on, cheap to compute (no engine start): part of every cache key."""
    scheme, rest = split_spec(spec, option)
    module = importlib.import_module(_REGISTRY[scheme].partition(":")[0])
    return {"backend": scheme, **module.identity(rest, option, context or ModelContext(), memo)}


def load_model(spec: str, option: str = "--model", context: ModelContext | None = None) -> Model:
    scheme, rest = split_spec(spec, option)
    module_name, _, factory_name = _REGISTRY[scheme].partition(":")
    factory = getattr(importlib.import_module(module_name), factory_name)
    model: Model = factory(rest, option=option, context=context or ModelContext())
    return model
