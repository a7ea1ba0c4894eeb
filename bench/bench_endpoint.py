"""The openai: back end against a real `vllm serve` of the embedded model, at several concurrency limits.

One server for every way, prefix caching off on it so no way is served from prompts an earlier way computed; the
same pairs, token budgets and greedy decoding for each. Each way is the plugin's own pipeline
(fine_pytest.pipeline.run.run_loaded over OpenAIModel, with a throwaway cache: the run() every caller takes), so
the figure is what a FINE run against a server would see.

    python bench/bench_endpoint.py --pairs 30 --max-tokens 64 --mc-max-tokens 16 --concurrency 1 4 16
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from bench_cache import pairs_of

from fine_pytest.backends.base import Endpoint, ModelContext
from fine_pytest.backends.openai import OpenAIModel
from fine_pytest.backends.vllm import model_folder
from fine_pytest.core.sampling import GenerationSettings, Sampling
from fine_pytest.judges.refusal import RefusalJudge
from fine_pytest.pipeline.run import run_loaded


def start_server(log: Path) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [
        sys.executable, "-m", "vllm.entrypoints.openai.api_server",
        "--model", str(model_folder("smollm2", "--model")), "--served-model-name", "smollm2",
        "--host", "127.0.0.1", "--port", str(port), "--dtype", "float32", "--enforce-eager",
        "--gpu-memory-utilization", "0.5", "--block-size", "32", "--no-enable-prefix-caching",
        "--disable-uvicorn-access-log",
    ]  # fmt: skip
    with open(log, "wb") as output:
        server = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 600
    while True:
        if server.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("vllm serve did not start:\n" + log.read_text(errors="replace")[-3000:])
        try:
            with urllib.request.urlopen(f"{url}/models", timeout=5):
                return server, url
        except OSError:
            time.sleep(2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=30)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--mc-max-tokens", type=int, default=16)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    args = parser.parse_args()
    pairs = pairs_of(args.pairs)
    settings = GenerationSettings(open=Sampling(args.max_tokens), mc=Sampling(args.mc_max_tokens))
    log = Path(tempfile.gettempdir(), "fine-bench-endpoint-server.log")
    server, url = start_server(log)
    try:
        timings: dict[int, float] = {}
        for index, limit in enumerate([1, *args.concurrency]):
            model = OpenAIModel("smollm2", context=ModelContext(endpoint=Endpoint(base_url=url, concurrency=limit)))
            chosen = pairs[:1] if index == 0 else pairs  # a first request to warm the server, carried by no way
            start = time.perf_counter()
            evaluated = run_loaded(chosen, model, RefusalJudge(), settings)
            if index:
                timings[limit] = time.perf_counter() - start
                assert len(evaluated.results) == len(pairs), evaluated.failures
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)
        server.wait()
    base = timings[args.concurrency[0]]
    print(f"pairs={len(pairs)} prompts={3 * len(pairs)} max_tokens={args.max_tokens}/{args.mc_max_tokens}")
    for limit, seconds in timings.items():
        print(
            f"--fine-concurrency={limit:<3} {seconds:7.1f}s  {len(pairs) / seconds:5.2f} pairs/s  "
            f"speed-up over {args.concurrency[0]}: {base / seconds:.1f}x"
        )


if __name__ == "__main__":
    main()
