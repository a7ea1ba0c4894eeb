"""backends.cpu_preload: tcmalloc reaches the engine's processes only, and only when wanted."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fine_pytest.backends import cpu_preload
from fine_pytest.backends.cpu_preload import OPT_OUT, engine_preload, system_tcmalloc, wanted_preload

TC = "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4"


@pytest.mark.parametrize(
    ("environment", "found", "expected"),
    [
        ({}, TC, TC),
        ({"LD_PRELOAD": "/opt/libgomp.so"}, TC, f"{TC}:/opt/libgomp.so"),
        # The user's own tcmalloc (or vLLM's bundled one) is left alone.
        ({"LD_PRELOAD": "/opt/libtcmalloc.so.4"}, TC, None),
        ({"LD_PRELOAD": "/a/libtcmalloc_minimal.so.4:/b/libiomp5.so"}, TC, None),
        ({}, None, None),
        ({OPT_OUT: "1"}, TC, None),
        ({OPT_OUT: ""}, TC, TC),
    ],
)
def test_the_preload_is_added_in_front_only_when_wanted(
    environment: dict[str, str], found: str | None, expected: str | None
) -> None:
    assert wanted_preload(environment, found) == expected


def test_the_first_library_found_is_used(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    assert system_tcmalloc((str(first), str(second))) is None
    (second / "libtcmalloc.so.4").write_bytes(b"")
    (second / "libtcmalloc_minimal.so.4").write_bytes(b"")
    assert system_tcmalloc((str(first), str(second))) == str(second / "libtcmalloc_minimal.so.4")
    (first / "libtcmalloc.so.4").mkdir()  # not a file
    assert system_tcmalloc((str(first), str(second))) == str(second / "libtcmalloc_minimal.so.4")


@pytest.mark.parametrize("before", [None, "/opt/libgomp.so"])
def test_the_environment_is_put_back_after_the_engine_starts(
    monkeypatch: pytest.MonkeyPatch, before: str | None
) -> None:
    monkeypatch.setattr(cpu_preload, "system_tcmalloc", lambda: TC)
    monkeypatch.delenv(OPT_OUT, raising=False)
    if before is None:
        monkeypatch.delenv("LD_PRELOAD", raising=False)
    else:
        monkeypatch.setenv("LD_PRELOAD", before)
    with pytest.raises(RuntimeError, match="engine failed"), engine_preload() as preloaded:
        assert preloaded == TC
        assert os.environ["LD_PRELOAD"].split(":")[0] == TC
        os.environ["LD_PRELOAD"] += ":/vllm/adds/libgomp.so"  # as vLLM's CPU platform does while it starts
        raise RuntimeError("the engine failed")
    assert os.environ.get("LD_PRELOAD") == before


def test_nothing_changes_when_there_is_no_tcmalloc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cpu_preload, "system_tcmalloc", lambda: None)
    monkeypatch.setenv("LD_PRELOAD", "/opt/x.so")
    with engine_preload() as preloaded:
        assert preloaded is None and os.environ["LD_PRELOAD"] == "/opt/x.so"
    assert os.environ["LD_PRELOAD"] == "/opt/x.so"
