"""One generation per run, however many processes: the run's identity, its cache, and who generates what.

The process where pytest started (the xdist controller, or the only process) names the run and picks the cache
folder; xdist workers receive both. Pairs are split into partitions, one per engine: a single partition unless
``--fine-devices`` lists several accelerators under xdist. A partition is generated under a file lock by whichever
process takes the lock first and finds answers missing; every other process waits on that lock and then reads the
cache. So with ``-n 4`` on one GPU the engine starts once, and a worker that dies mid-partition releases its lock to a
waiting worker, which finds the finished chunks in the cache and generates only the rest. In a run of several
models, each model's run is a run inside this one (``<run>.m<index>``), and processes sharing a device take turns.

Longer than 300 lines: the run's identity, its folder's clean-up, and its four kinds of lock (a partition's, a
model's across runs, a model's turn in a run of several, the partitions' owners and takeovers) are one protocol,
read together when any of it changes.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any, TypeVar

from fine_pytest.pipeline.cache import FILENAME, Cache, CacheError, remove

T = TypeVar("T")
FOLDER = "fine-pytest"
# How long a process waits for another partition's owner to claim it before generating it itself (the owner may have
# died before it started), and how often it looks.
OWNER_GRACE = 120.0
# Anything a run leaves behind for longer than this was left by a killed run, not one still going.
LEFTOVER_AGE = 24 * 3600.0
POLL = 0.2
# Held shared by every process that reads or writes the cache, exclusively by --cache-clear (beside the database,
# not in locks/: tidy() deletes old files there, and a lock file replaced while held no longer excludes anyone).
IN_USE = "in-use.lock"


@dataclass(frozen=True)
class RunInfo:
    """What every process of one run shares; travels to xdist workers as a dict."""

    run: str
    cache_dir: str
    persistent: bool  # False with --fine-no-cache: the folder is this run's own, deleted when it ends
    devices: tuple[str, ...] = ()
    worker: int = 0
    workers: int = 1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], worker: int, workers: int) -> RunInfo:
        return cls(data["run"], data["cache_dir"], data["persistent"], tuple(data["devices"]), worker, workers)

    @property
    def partition_count(self) -> int:
        # Several engines need several processes to hold them: without xdist, one engine sees every device.
        return len(self.devices) if self.devices and self.workers > 1 else 1


def new_run(cache_dir: Path | None, devices: Sequence[str] = ()) -> RunInfo:
    """A fresh run id; ``cache_dir`` None means a private folder that the run deletes (--fine-no-cache)."""
    run = uuid.uuid4().hex
    if cache_dir is None:
        # Named, not created: a run without FINE tests writes nothing. The random run id makes the name private;
        # the cache creates the folder when a FINE test first needs it.
        return RunInfo(run, str(Path(tempfile.gettempdir(), f"fine-pytest-run-{run}")), False, tuple(devices))
    return RunInfo(run, str(cache_dir), True, tuple(devices))


def default_cache_dir(rootpath: Path, cache_dir_ini: str) -> Path:
    """fine-pytest/ beside pytest's own cache folders (not in them: pytest's --cache-clear in each xdist worker
    would delete a file another worker is writing)."""
    base = Path(os.path.expandvars(os.path.expanduser(cache_dir_ini)))
    return (base if base.is_absolute() else rootpath / base) / FOLDER


def tidy(folder: Path, older_than: float = LEFTOVER_AGE) -> None:
    """Clear what runs killed before their clean-up left in a cache folder: events, unseeded answers, lock files."""
    database = folder / FILENAME
    if database.exists():
        try:
            with Cache(database) as cache:
                cache.sweep(older_than)
        except CacheError:
            pass  # reported when a run uses it
    cutoff = time.time() - older_than
    for lock in (folder / "locks").glob("*.lock"):
        if lock.name.startswith("model-"):
            continue  # shared by every run of one model; taking it does not touch its mtime, so age says nothing
        with contextlib.suppress(OSError):
            if lock.stat().st_mtime < cutoff:
                lock.unlink()


def finish_run(info: RunInfo) -> None:
    """Forget the run's private rows and lock files; delete the folder of a --fine-no-cache run."""
    database = Path(info.cache_dir, FILENAME)
    if info.persistent and database.exists():
        try:
            with Cache(database) as cache:
                cache.end_run(info.run)
        except CacheError:
            pass  # the run already reported that the cache is unusable
    locks = Path(info.cache_dir, "locks")
    # The run's own locks, and those of the runs inside it (each model of several: ``<run>.m<index>``).
    for lock in [*locks.glob(f"{info.run}-*.lock"), *locks.glob(f"{info.run}.*-*.lock")]:
        lock.unlink(missing_ok=True)
    if not info.persistent:
        shutil.rmtree(info.cache_dir, ignore_errors=True)


@contextmanager
def using_cache(info: RunInfo) -> Iterator[None]:
    """A process of a run reads or writes the cache in this block: --cache-clear waits until it ends, so the file
    is never pulled from under a run that is storing answers in it."""
    if not info.persistent:
        yield
        return
    folder = Path(info.cache_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle = open(folder / IN_USE, "a+")  # noqa: SIM115 - held open for the block
    except OSError as error:
        raise CacheError(f"cannot use the FINE cache folder {folder}: {error.strerror or error}") from None
    with handle:
        # A POSIX record lock, not flock: it belongs to this process alone, so an engine process forked while it is
        # held (and orphaned by a kill) cannot keep a later clear waiting.
        fcntl.lockf(handle, fcntl.LOCK_SH)
        yield


def clear(folder: Path, waiting: Callable[[], None]) -> None:
    """--cache-clear: remove the cache file once no run uses it (``waiting`` is called first if one does). Runs
    that start while it waits may go first; it waits for them too."""
    if not folder.is_dir():
        return  # nothing to clear; a run without FINE tests creates nothing
    try:
        handle = open(folder / IN_USE, "a+")  # noqa: SIM115 - held open while clearing
    except OSError:
        remove(folder)  # a folder this process cannot write to: its cache file is not removable either
        return
    with handle:
        try:
            fcntl.lockf(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # held by another process (EAGAIN or EACCES, by platform)
            waiting()
            fcntl.lockf(handle, fcntl.LOCK_EX)
        remove(folder)


def split(items: Sequence[T], count: int) -> list[list[T]]:
    """Round-robin: partitions of equal size (within one), the same in every process given the same items."""
    return [list(items[index::count]) for index in range(count)]


def owned_partitions(info: RunInfo) -> list[int]:
    """The partitions this process generates itself: all of them for one partition (whoever comes first leads), else
    every partition whose number is this worker's modulo the worker count."""
    count = info.partition_count
    if count == 1:
        return [0]
    return [partition for partition in range(count) if partition % info.workers == info.worker]


def device_for(info: RunInfo, partition: int) -> str | None:
    """The CUDA_VISIBLE_DEVICES value for an engine generating ``partition``; None leaves the environment alone."""
    if not info.devices:
        return None
    if info.partition_count == 1:
        return ",".join(group.replace("+", ",") for group in info.devices)
    return info.devices[partition].replace("+", ",")


def _lock_file(info: RunInfo, name: str) -> IO[str]:
    """A lock file in the cache folder's ``locks`` folder, made if missing; a CacheError that says what to do when
    something else stands there (a file named ``locks``, a folder the run cannot write)."""
    folder = Path(info.cache_dir, "locks")
    try:
        if not info.persistent:
            # A --fine-no-cache run's folder is private, as mkdtemp makes one: made so here if the locks come first.
            Path(info.cache_dir).mkdir(mode=0o700, exist_ok=True)
        folder.mkdir(parents=True, exist_ok=True)
        return open(folder / name, "a")  # noqa: SIM115 - the caller holds it open while it holds the lock
    except OSError as error:
        raise CacheError(
            f"{folder}: the cache folder's lock files cannot be made there ({error.strerror or error}); remove it or "
            "give another --fine-cache-dir"
        ) from None


@contextmanager
def partition_lock(info: RunInfo, partition: int, wait: bool = True) -> Iterator[bool]:
    """Exclusive right to generate a partition (and to the device it runs on); yields whether it was taken (always
    when ``wait``). The OS releases it if the holder dies."""
    with _lock_file(info, f"{info.run}-{partition}.lock") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def model_turn(info: RunInfo) -> Iterator[None]:
    """One model of several at a time, across the run's processes, where they share one device (one partition):
    held for a model's whole run in a process, from before its engine loads until after it is closed, so a process
    that only read the last model from the cache cannot load the next model's engine beside the one still open.
    With a partition per device each process's engine has its own device, and nothing is held."""
    if info.partition_count > 1:
        yield
        return
    with _held(info, f"{info.run}-turn.lock"):
        yield


@contextmanager
def generation_lock(info: RunInfo, model: Any, partition: int) -> Iterator[None]:
    """Exclusive right, across runs that share the cache folder, to fill a partition with one model's answers.

    Two runs started together would otherwise both generate everything (two engines on one device may not even
    fit); the second waits here, then finds the first one's answers in the cache and generates only what is left.
    """
    name = hashlib.sha256(json.dumps(model, sort_keys=True, default=str).encode("utf-8")).hexdigest()[:16]
    with _held(info, f"model-{name}-{partition}.lock"):
        yield


@contextmanager
def _held(info: RunInfo, name: str) -> Iterator[None]:
    """A lock file of the run's folder, held exclusively (waiting for it) until the block ends."""
    with _lock_file(info, name) as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def run_partitions(
    info: RunInfo,
    cache: Cache,
    partitions: Sequence[Sequence[T]],
    fill_partition: Callable[[int, Sequence[T]], None],
    grace: float = OWNER_GRACE,
) -> dict[int, str]:
    """Make sure every partition is generated once; returns {partition: error} for partitions whose generation failed.

    A process generates the partitions it owns, then waits for the others. Waiting ends when a partition is done or
    failed, or in a takeover: its lock is free, yet it was claimed and never finished (the owner died), or nobody
    claimed it within ``grace`` seconds (the owner never came). A failure is recorded in the cache for the run, so
    the other processes report it instead of retrying a model that cannot load. An interrupt is not a failure: it
    propagates, and whoever holds the lock next resumes from the cache.
    """
    failures: dict[int, str] = {}

    def generate(partition: int) -> None:
        cache.record(info.run, "claim", partition)
        try:
            fill_partition(partition, partitions[partition])
        except PartitionFailure as failure:
            cache.record(info.run, "failure", partition, failure.message)
            return
        cache.record(info.run, "done", partition)

    def settled(partition: int) -> bool:
        recorded = cache.events(info.run, "failure", partition)
        if recorded:
            failures[partition] = recorded[0]
        return bool(recorded or cache.events(info.run, "done", partition))

    owned = owned_partitions(info)
    for partition in owned:
        with partition_lock(info, partition):
            if not settled(partition):
                generate(partition)
                settled(partition)
    started = time.monotonic()
    for partition in (partition for partition in range(len(partitions)) if partition not in owned):
        while not settled(partition):
            with partition_lock(info, partition, wait=False) as taken:
                abandoned = bool(cache.events(info.run, "claim", partition)) or time.monotonic() - started > grace
                if taken and not settled(partition) and abandoned:
                    generate(partition)
                    settled(partition)
                    break
            time.sleep(POLL)
    return failures


class PartitionFailure(Exception):
    """The model or judge failed on a partition; the message is what the user sees."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def shard_of_key(key: str, count: int) -> int:
    """The CI shard (0-based) of a pair: a hash of its key, so a pair stays in its shard as a dataset grows."""
    return int(hashlib.sha256(key.encode("utf-8")).hexdigest()[:16], 16) % count


def selection_digest(keys: Sequence[str]) -> str:
    """Identifies the pairs a sharded run split; every shard of one run must carry the same one."""
    return hashlib.sha256("\n".join(sorted(keys)).encode("utf-8")).hexdigest()[:16]
