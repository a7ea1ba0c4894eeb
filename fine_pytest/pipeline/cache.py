"""The response cache: model answers and judge verdicts in SQLite, shared by every process of a run and across runs.

One file, WAL mode, so xdist workers and concurrent CI jobs on one machine read while one of them writes. Rows
are keyed by a digest of everything that changes the output (see ``digest``); each row remembers the run that
wrote it, which is how a run tells what it generated from what it found. Answers that must not outlive the run
(sampled without a seed) are written under keys that include the run id and deleted when the run ends.

Longer than 300 lines: it is the one place that speaks SQL (schema and its upgrade, answers and failures, verdicts,
file fingerprints, run events, clean-up); splitting it would spread the schema's invariants over several modules.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import json
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from fine_pytest.core.results import VERDICTS

FILENAME = "responses.sqlite"
MEMORY = ":memory:"
# A batch import's rows are written under this prefix and the importing run's id (see ``imported_by``).
IMPORTED = "batch-import"
SCHEMA_VERSION = 2
# Schema 2 added answers.truncated and verdicts.probability; a schema-1 file gains both columns (NULL: not known)
# when first opened.
# The largest number of keys in one "IN (...)" query; SQLite's own limit is 32766 on current builds.
_BATCH = 900

_TABLES = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS answers (
    key TEXT PRIMARY KEY, answer TEXT, failure TEXT, run TEXT NOT NULL, ephemeral INTEGER NOT NULL, created REAL,
    truncated INTEGER
);
CREATE TABLE IF NOT EXISTS verdicts (
    key TEXT PRIMARY KEY, verdict TEXT NOT NULL, run TEXT NOT NULL, created REAL, probability REAL
);
CREATE TABLE IF NOT EXISTS fingerprints (
    path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, ctime_ns INTEGER NOT NULL,
    inode INTEGER NOT NULL, digest TEXT
);
CREATE TABLE IF NOT EXISTS events (run TEXT NOT NULL, kind TEXT NOT NULL, shard INTEGER, detail TEXT, created REAL);
CREATE INDEX IF NOT EXISTS answers_run ON answers (run);
CREATE INDEX IF NOT EXISTS answers_ephemeral ON answers (ephemeral, created);
CREATE INDEX IF NOT EXISTS events_run ON events (run, kind);
"""


class AnswerRow(NamedTuple):
    """One answer to store: its text, or the reason the model could not give one."""

    key: str
    answer: str | None
    failure: str | None
    ephemeral: bool  # sampled without a usable seed: deleted when the run ends
    truncated: bool = False  # cut by the token budget


class StoredAnswer(NamedTuple):
    answer: str | None
    failure: str | None
    run: str
    truncated: bool | None  # None: stored before truncation was recorded


class VerdictRow(NamedTuple):
    key: str
    verdict: str
    unsafe_probability: float | None = None  # for judges read by log-probabilities


class StoredVerdict(NamedTuple):
    verdict: str
    run: str
    probability: float | None  # P(unsafe), for judges read by log-probabilities


class CacheError(Exception):
    """The cache file cannot be used (unreadable, not a database, a newer schema, a full disk)."""


F = TypeVar("F", bound=Callable[..., Any])


def _guarded(method: F) -> F:
    """SQLite's own errors (locked for too long, disk full, I/O error) become a CacheError naming the file."""

    @functools.wraps(method)
    def wrapper(self: Cache, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.Error as error:
            raise CacheError(f"the FINE cache {self.path} failed: {error}") from None

    return wrapper  # type: ignore[return-value]


def mark_folder(folder: Path) -> None:
    """A cache folder says what it is: ignored by git (it holds model answers to harmful prompts, which do not
    belong in a commit) and tagged for backup tools, as pytest marks its own cache folder."""
    ignore = folder / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# Created by fine-pytest: the response cache.\n*\n", encoding="utf-8")
    tag = folder / "CACHEDIR.TAG"
    if not tag.exists():
        tag.write_text(
            "Signature: 8a477f597d28d172789f06886806bc55\n"
            "# This file is a cache directory tag created by fine-pytest.\n",
            encoding="utf-8",
        )


def _text_or_none(value: Any) -> bool:
    return value is None or isinstance(value, str)


def imported_by(run: str) -> str:
    """The run id of the rows a batch import stores for ``run``: counted as found in the cache, not generated,
    and settled for that run alone."""
    return f"{IMPORTED}.{run}"


def digest(value: Any) -> str:
    """A stable key: SHA-256 of canonical JSON (sorted keys, no whitespace), the same in every process."""
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class Cache(contextlib.AbstractContextManager["Cache"]):
    """A connection to the cache file; cheap to open, so each process opens its own. ``with`` closes it."""

    def __init__(self, path: Path | str) -> None:
        self.path = path
        try:
            if path == MEMORY:
                self._connect()
            else:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                mark_folder(Path(path).parent)
                # Switching a new file to WAL and creating its tables fail with "database is locked" (the busy
                # timeout does not cover them) when xdist workers open the cache at the same moment: take turns.
                with open(f"{path}.lock", "a") as lock:
                    fcntl.flock(lock, fcntl.LOCK_EX)
                    self._connect()
        except (sqlite3.DatabaseError, OSError) as error:
            raise CacheError(f"cannot use the FINE cache {path}: {error}") from None

    def _connect(self) -> None:
        # Autocommit: each "with self._transaction()" block below is one explicit transaction.
        self._db = sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL survives a killed process, not power loss
        self._db.executescript(_TABLES)
        self._check_schema()

    @classmethod
    def in_memory(cls) -> Cache:
        """A private cache that lives as long as the object (library use without a cache folder)."""
        return cls(MEMORY)

    def _check_schema(self) -> None:
        with self._transaction():
            row = self._db.execute("SELECT value FROM meta WHERE name = 'schema'").fetchone()
            if row is None:
                self._db.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
            elif row[0] in ("1", str(SCHEMA_VERSION)):
                # Cheap (two PRAGMAs), and it also completes a file whose columns were added one at a time.
                for table, column, kind in (("answers", "truncated", "INTEGER"), ("verdicts", "probability", "REAL")):
                    present = {info[1] for info in self._db.execute(f"PRAGMA table_info({table})")}
                    if column not in present:
                        self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
                self._db.execute("UPDATE meta SET value = ? WHERE name = 'schema'", (str(SCHEMA_VERSION),))
            else:
                raise CacheError(
                    f"the FINE cache {self.path} has schema {row[0]}, this fine-pytest uses {SCHEMA_VERSION}; "
                    "clear it with --cache-clear or use another --fine-cache-dir"
                )

    def _transaction(self) -> Any:
        return _Transaction(self._db)

    @_guarded
    def close(self) -> None:
        self._db.close()

    def __exit__(self, kind: object, value: object, traceback: object) -> None:
        with contextlib.suppress(CacheError) if kind is not None else contextlib.nullcontext():
            self.close()  # an error in the block is the one to report, not a failure to close after it

    # Answers and verdicts -------------------------------------------------------------------------------------

    @_guarded
    def answers(self, keys: Sequence[str]) -> dict[str, StoredAnswer]:
        """key -> the stored answer, for the keys present."""
        found = {}
        for key, answer, failure, run, truncated in self._select("answers", "answer, failure, run, truncated", keys):
            # SQLite keeps any type in any column: a row edited by hand is refused here, not met later as a crash.
            if not (_text_or_none(answer) and _text_or_none(failure) and isinstance(run, str)) or (
                answer is None and failure is None
            ):
                raise self._damaged("answers", key)
            if truncated not in (None, 0, 1):
                raise self._damaged("answers", key)
            found[key] = StoredAnswer(answer, failure, run, None if truncated is None else bool(truncated))
        return found

    def _damaged(self, table: str, key: Any) -> CacheError:
        return CacheError(
            f"the FINE cache {self.path} is damaged: a row of {table} ({str(key)[:16]}) holds values of the wrong "
            "type; clear it with --cache-clear or use another --fine-cache-dir"
        )

    @_guarded
    def settled(self, keys: Sequence[str], run: str) -> set[str]:
        """The keys ``run`` need not ask for: those with an answer, and those it failed on itself (by its model or
        its batch import), so that its other processes do not ask again. A failure an earlier run stored is asked
        again: a server's one-off error is not the model's answer."""
        mine = (run, imported_by(run))
        return {
            key
            for key, answer, failure_run in self._select("answers", "answer, run", keys)
            if answer is not None or failure_run in mine
        }

    @_guarded
    def put_answers(self, rows: Iterable[AnswerRow], run: str) -> None:
        """Answer rows, in one transaction: a chunk lands whole or not at all.

        A key with an answer keeps its row (and the run that wrote it): answers under one key are interchangeable.
        A stored failure gives way to an answer, and to a failure of another run (the latest reason is shown).
        """
        now = time.time()
        with self._transaction():
            self._db.executemany(
                "INSERT INTO answers (key, answer, failure, run, ephemeral, created, truncated) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET answer = excluded.answer, "
                "failure = excluded.failure, run = excluded.run, ephemeral = excluded.ephemeral, "
                "created = excluded.created, truncated = excluded.truncated "
                "WHERE answers.answer IS NULL AND (excluded.answer IS NOT NULL OR answers.run != excluded.run)",
                [(r.key, r.answer, r.failure, run, int(r.ephemeral), now, int(r.truncated)) for r in rows],
            )

    @_guarded
    def failures(self) -> list[tuple[str, int]]:
        """Stored failures: (reason, count), the commonest first."""
        query = "SELECT failure, COUNT(*) FROM answers WHERE answer IS NULL GROUP BY failure ORDER BY 2 DESC, 1"
        return [(str(reason), int(count)) for reason, count in self._db.execute(query)]

    @_guarded
    def forget_failures(self) -> int:
        """Delete every stored failure (answers and verdicts stay); returns how many."""
        with self._transaction():
            return self._db.execute("DELETE FROM answers WHERE answer IS NULL").rowcount

    @_guarded
    def counts(self) -> dict[str, int]:
        """Rows by kind: answers (with text), failures, verdicts."""
        answers, failures = self._db.execute("SELECT COUNT(answer), COUNT(*) - COUNT(answer) FROM answers").fetchone()
        (verdicts,) = self._db.execute("SELECT COUNT(*) FROM verdicts").fetchone()
        return {"answers": int(answers), "failures": int(failures), "verdicts": int(verdicts)}

    @_guarded
    def verdicts(self, keys: Sequence[str]) -> dict[str, StoredVerdict]:
        """key -> the stored verdict."""
        found = {}
        for key, verdict, run, probability in self._select("verdicts", "verdict, run, probability", keys):
            chance = isinstance(probability, float | int) and not isinstance(probability, bool)
            if verdict not in VERDICTS or not isinstance(run, str) or not (probability is None or chance):
                raise self._damaged("verdicts", key)
            found[key] = StoredVerdict(verdict, run, None if probability is None else float(probability))
        return found

    @_guarded
    def put_verdicts(self, rows: Iterable[VerdictRow], run: str) -> None:
        """Verdict rows. A verdict depends on the judge, the question and the answer only, never on the run, so it
        is kept even when the answer it judged was not (sampled without a seed)."""
        now = time.time()
        with self._transaction():
            self._db.executemany(
                "INSERT OR IGNORE INTO verdicts (key, verdict, run, created, probability) VALUES (?, ?, ?, ?, ?)",
                [(r.key, r.verdict, run, now, r.unsafe_probability) for r in rows],
            )

    def _select(self, table: str, columns: str, keys: Sequence[str]) -> Iterator[tuple[Any, ...]]:
        for start in range(0, len(keys), _BATCH):
            batch = list(keys[start : start + _BATCH])
            marks = ",".join("?" * len(batch))
            yield from self._db.execute(f"SELECT key, {columns} FROM {table} WHERE key IN ({marks})", batch)

    # File fingerprints: hashing a model's weights once per file version, not once per run ---------------------

    @_guarded
    def fingerprint(self, path: Path, stat: Any) -> str | None:
        # ctime cannot be set from user space: a rewrite that keeps size and mtime (cp -p) still changes it.
        row = self._db.execute(
            "SELECT digest FROM fingerprints WHERE path = ? AND size = ? AND mtime_ns = ? AND ctime_ns = ? "
            "AND inode = ?",
            (str(path), stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino),
        ).fetchone()
        return None if row is None else str(row[0])

    @_guarded
    def put_fingerprint(self, path: Path, stat: Any, value: str) -> None:
        with self._transaction():
            self._db.execute(
                "INSERT OR REPLACE INTO fingerprints VALUES (?, ?, ?, ?, ?, ?)",
                (str(path), stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino, value),
            )

    # Run events: model loads (counted per run) and failures (so other workers do not retry a broken model) ------

    @_guarded
    def record(self, run: str, kind: str, partition: int | None = None, detail: str = "") -> None:
        with self._transaction():
            self._db.execute("INSERT INTO events VALUES (?, ?, ?, ?, ?)", (run, kind, partition, detail, time.time()))

    @_guarded
    def events(self, run: str, kind: str, partition: int | None = None) -> list[str]:
        """Events of a run (and of its later scopes, ``run.<suffix>``) of one kind, optionally of one device
        partition (the column keeps its first name, ``shard``, so older cache files still read)."""
        query = "SELECT detail FROM events WHERE (run = ? OR run LIKE ?) AND kind = ?"
        values: tuple[Any, ...] = (run, f"{run}.%", kind)
        if partition is not None:
            query, values = query + " AND shard = ?", (*values, partition)
        return [str(row[0]) for row in self._db.execute(query, values)]

    @_guarded
    def end_run(self, run: str) -> None:
        """Forget what only this run may use: its events and its answers sampled without a seed."""
        with self._transaction():
            self._db.execute("DELETE FROM events WHERE run = ? OR run LIKE ?", (run, f"{run}.%"))
            self._db.execute("DELETE FROM answers WHERE (run = ? OR run LIKE ?) AND ephemeral = 1", (run, f"{run}.%"))

    @_guarded
    def sweep(self, older_than: float) -> None:
        """Forget what killed runs left behind (their end_run never ran): events and unseeded answers older than
        ``older_than`` seconds, which no run still going can need."""
        cutoff = time.time() - older_than
        with self._transaction():
            self._db.execute("DELETE FROM events WHERE created < ?", (cutoff,))
            self._db.execute("DELETE FROM answers WHERE ephemeral = 1 AND created < ?", (cutoff,))


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT: takes the write lock up front, so two writers queue instead of deadlocking."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, value: object, traceback: object) -> None:
        self._db.execute("COMMIT" if kind is None else "ROLLBACK")


def remove(folder: Path) -> None:
    """Delete the cache file and its WAL side files (for --cache-clear)."""
    for name in (FILENAME, FILENAME + "-wal", FILENAME + "-shm", FILENAME + ".lock"):
        (folder / name).unlink(missing_ok=True)
