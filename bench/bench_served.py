"""The plugin's own ceiling against a served model: requests per second it can issue and absorb, and its CPU and
memory over a large run, with a local stub server that answers at once (so the server is never the limit).

The stub is a separate process (asyncio, one connection per request, as the openai: back end makes them) that
answers every chat completion with a short refusal. Each way runs the plugin's pipeline over the openai: back end
with an SQLite cache on disk, as a FINE run does: requests, retries, parsing, caching each answer as it comes,
judging by refusal. Figures:

    (1) requests/s at each --concurrency, over --pairs pairs (3 requests per pair);
    (2) one run of --large-pairs pairs at --large-concurrency: wall time, the client's CPU seconds (user + system)
        and peak resident memory, and the stub's CPU seconds.

    python bench/bench_served.py --pairs 2000 --concurrency 1 8 64 256 --large-pairs 33334 --large-concurrency 64
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_cache import pairs_of

from fine_pytest.backends.base import Endpoint, ModelContext
from fine_pytest.backends.openai import OpenAIModel
from fine_pytest.core.dataset import Pair
from fine_pytest.core.sampling import GenerationSettings, Sampling
from fine_pytest.judges.refusal import RefusalJudge
from fine_pytest.pipeline.cache import Cache
from fine_pytest.pipeline.evaluate import Keys
from fine_pytest.pipeline.run import run_loaded

MODELS = json.dumps({"data": [{"id": "stub", "object": "model"}]}).encode()
REPLY = json.dumps(
    {"choices": [{"message": {"role": "assistant", "content": "I cannot help with that."}, "finish_reason": "stop"}]}
).encode()


SERVED = [0]  # chat completions answered, reported when the stub stops


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if length:
            await reader.readexactly(length)
        body = MODELS if head.startswith(b"GET") else REPLY
        SERVED[0] += body is REPLY
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def serve(port_file: str) -> None:
    server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=4096)
    Path(port_file).write_text(str(server.sockets[0].getsockname()[1]))
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with server:
        await stop.wait()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    Path(port_file).write_text(json.dumps({"cpu": usage.ru_utime + usage.ru_stime, "served": SERVED[0]}))


def start_stub(folder: Path) -> tuple[subprocess.Popen[bytes], str, Path]:
    port_file = folder / "stub-port"
    stub = subprocess.Popen([sys.executable, __file__, "--serve", str(port_file)])
    deadline = time.monotonic() + 30
    while not port_file.exists() or not port_file.read_text():
        if stub.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("the stub server did not start")
        time.sleep(0.05)
    return stub, f"http://127.0.0.1:{port_file.read_text()}/v1", port_file


def distinct_pairs(count: int) -> list[Pair]:
    """The bundled pairs repeated, each copy's question made its own: equal prompts share one cache key, and a
    repeated prompt would be asked once."""
    return [dataclasses.replace(p, question=f"{p.question} (copy {p.index})") for p in pairs_of(count)]


def run(url: str, pairs: int, concurrency: int, folder: Path, chunk: int) -> tuple[float, int]:
    chosen = distinct_pairs(pairs)
    settings = GenerationSettings(open=Sampling(64), mc=Sampling(16))
    model = OpenAIModel("stub", context=ModelContext(endpoint=Endpoint(base_url=url, concurrency=concurrency)))
    keys = Keys(model=f"stub-{concurrency}-{pairs}", judge="refusal", run="bench")
    with Cache(folder / f"responses-{concurrency}-{pairs}.sqlite") as cache:
        began = time.perf_counter()
        evaluated = run_loaded(chosen, model, RefusalJudge(), settings, cache, keys, chunk)
        seconds = time.perf_counter() - began
    assert len(evaluated.results) == len(chosen), evaluated.failures[:3]
    return seconds, 3 * len(chosen)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--serve", metavar="PORT_FILE", help=argparse.SUPPRESS)
    parser.add_argument("--pairs", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 64, 256])
    parser.add_argument("--large-pairs", type=int, default=33334)
    parser.add_argument("--large-concurrency", type=int, default=64)
    parser.add_argument("--chunk", type=int, default=512)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.serve))
        return
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        stub, url, port_file = start_stub(folder)
        try:
            print(f"stub at {url}; {args.pairs} pairs per concurrency level, chunk {args.chunk}", flush=True)
            for limit in args.concurrency:
                seconds, requests = run(url, args.pairs, limit, folder, args.chunk)
                print(f"concurrency {limit:>4}: {requests} requests in {seconds:6.1f} s = {requests / seconds:7.0f}/s")
            if args.large_pairs:
                before = resource.getrusage(resource.RUSAGE_SELF)
                seconds, requests = run(url, args.large_pairs, args.large_concurrency, folder, args.chunk)
                after = resource.getrusage(resource.RUSAGE_SELF)
                cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
                print(
                    f"large run: {requests} requests at concurrency {args.large_concurrency} in {seconds:.1f} s "
                    f"({requests / seconds:.0f}/s); client CPU {cpu:.1f} s ({cpu / seconds:.2f} cores), "
                    f"peak memory {after.ru_maxrss / 1024:.0f} MiB (the whole benchmark process)",
                    flush=True,
                )
        finally:
            stub.send_signal(signal.SIGTERM)
            stub.wait(timeout=30)
        if port_file.exists():
            stub_facts = json.loads(port_file.read_text())
            print(f"stub server: {stub_facts['served']} chat completions served, {stub_facts['cpu']:.1f} s of CPU")


if __name__ == "__main__":
    main()
