"""Ingest a folder of .slp files into a data root: frame tables, catalog, DuckDB views.

The run, in order:
1. list the replays, take the data root's lock (lock.py), read the catalog;
2. for each file: skip it if the catalog already has it (same path, size and
   mtime, or same path and hash); record it as a duplicate if its hash is
   known under another path; else hand it to a worker process (worker.py),
   which parses it and writes `frames/{sha256}.parquet` atomically;
3. write the catalog atomically every few seconds and at the end; build the
   DuckDB views if they are missing or stale (in a background thread, started
   when the first frame table lands, so it overlaps the parsing).

Why this survives SIGKILL: a frame table is complete before its catalog row
exists, and both are written by rename. A file whose table was written but
whose row was not is simply parsed again on the next run (the table is
rewritten with identical content). Stray `.tmp-*` files are removed at start.
And a power cut: frame tables are not fsynced one by one; the file system is
synced once before each catalog write, so a durable row names a durable table.

The main process hashes files while the workers parse, so hashing is overlapped.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import sys
import threading
import time
from collections.abc import Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
from tqdm import tqdm

from exphil_assets.errors import UserError
from exphil_assets.paths import DataPaths
from exphil_assets.replays.catalog import (
    REPLAY_COLUMNS,
    STATUS_DUPLICATE,
    STATUS_OK,
    STATUS_QUARANTINED,
    catalog_frame,
    read_catalog,
    write_catalog,
)
from exphil_assets.replays.duckdb_views import build_views, views_current
from exphil_assets.replays.frame_schema import ROLLBACK_CHOICES
from exphil_assets.replays.hashing import sha256_file
from exphil_assets.replays.lock import ingest_lock
from exphil_assets.replays.worker import ParseResult, ParseTask, init_worker, parse_and_write

REPLAY_SUFFIX = ".slp"
CATALOG_FLUSH_SECONDS = 10.0  # bounds the work a crash can lose, without rewriting the catalog per file
TASKS_IN_FLIGHT_PER_WORKER = 2  # enough to keep workers busy; bounds queued work
WORKER_CRASH = "WorkerCrash"
STALE_VIEWS_TMP_SECONDS = 600  # a DuckDB view build takes well under a second


@dataclass
class IngestSummary:
    """What one ingest run did. `frames` counts unique frame ids of the files ingested ok."""

    ok: int = 0
    quarantined: int = 0
    duplicates: int = 0
    skipped: int = 0
    frames: int = 0
    seconds: float = 0.0
    quarantined_files: list[tuple[str, str, str]] = field(default_factory=list)  # (path, class, error)
    data_root: str = ""
    catalog: str = ""
    batch: str | None = None

    @property
    def files(self) -> int:
        return self.ok + self.quarantined + self.duplicates + self.skipped

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["files"] = self.files
        out["quarantined_files"] = [
            {"path": p, "error_class": c, "error": e} for p, c, e in self.quarantined_files
        ]
        return out


def find_replays(replays: Path | str | Iterable[Path | str]) -> list[Path]:
    """The .slp files named (files) or contained (folders, recursively), sorted, absolute.

    Raises UserError naming the first path that is missing or unreadable.
    """
    sources = [Path(replays)] if isinstance(replays, str | Path) else [Path(p) for p in replays]
    found: list[Path] = []
    for source in sources:
        source = source.expanduser()
        if source.is_dir():
            found.extend(p for p in source.rglob(f"*{REPLAY_SUFFIX}") if p.is_file())
        elif source.is_file():
            found.append(source)
        else:
            raise UserError(f"replay folder or file not found: {source}")
    files = sorted({p.resolve() for p in found})
    for path in files:
        if not os.access(path, os.R_OK):
            raise UserError(f"cannot read replay file: {path}")
    return files


def _prepare_data_root(data_root: Path) -> DataPaths:
    paths = DataPaths(data_root.expanduser().resolve())
    try:
        paths.frames_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create the data folder {paths.frames_dir}: {exc.strerror}") from exc
    if not os.access(paths.root, os.W_OK) or not os.access(paths.frames_dir, os.W_OK):
        raise UserError(f"data folder is not writable: {paths.root}")
    return paths


def _remove_stale_temp_files(paths: DataPaths) -> None:
    """Delete the `.tmp-*` files a killed ingest left behind.

    We hold the lock, so no ingest is writing them. DuckDB view builds can also
    come from `connect()` in another process, so only old ones of those go.
    """
    stale = [*paths.frames_dir.glob(".tmp-*"), *paths.root.glob(".tmp-catalog.parquet.*")]
    cutoff = time.time() - STALE_VIEWS_TMP_SECONDS
    stale += [p for p in paths.root.glob(".tmp-exphil.duckdb.*") if p.stat().st_mtime < cutoff]
    for tmp in stale:
        with contextlib.suppress(OSError):
            tmp.unlink()


def _pool_context() -> multiprocessing.context.BaseContext:
    # fork starts a worker in milliseconds instead of re-importing peppi/pyarrow (~0.4 s).
    # It is safe because workers use only peppi, numpy and pyarrow (fork-safe), never polars.
    if sys.platform == "linux":
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def _sync_file_system(folder: Path) -> None:
    """Flush the file system holding `folder` (syncfs on Linux, else a global sync)."""
    if sys.platform == "linux":
        fd = os.open(folder, os.O_RDONLY)
        try:
            if ctypes.CDLL(None, use_errno=True).syncfs(fd) == 0:
                return
        finally:
            os.close(fd)
    os.sync()


def _largest_first(path: Path) -> tuple[int, str]:
    """Sort key: big files first, so no worker is left parsing a long game alone at the end.

    Equal files have equal sizes, so among copies the first path is the original.
    """
    try:
        return (-path.stat().st_size, str(path))
    except OSError:
        return (0, str(path))


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _mtime(stat: os.stat_result) -> datetime:
    """The file's mtime as an exact (microsecond) UTC datetime."""
    return _EPOCH + timedelta(microseconds=stat.st_mtime_ns // 1000)


class _Ingest:
    """The state of one run: the catalog so far, rows to add, the worker pool."""

    def __init__(self, paths: DataPaths, workers: int, rollback: str, batch: str | None, lock_fd: int | None):
        self.paths = paths
        self.workers = workers
        self.rollback = rollback
        self.batch = batch
        self.lock_fd = lock_fd
        self.summary = IngestSummary(data_root=str(paths.root), catalog=str(paths.catalog), batch=batch)
        self.catalog = read_catalog(paths.root)
        self.new_rows: dict[str, dict[str, Any]] = {}  # path -> row (replaces an existing row)
        self.last_flush = time.monotonic()
        # Indexes over the existing catalog.
        self.by_path: dict[str, dict[str, Any]] = {
            row["path"]: row
            for row in self.catalog.select("path", "sha256", "size", "mtime", "status").iter_rows(named=True)
        }
        self.original_of: dict[str, str] = {}  # sha256 -> path of its ok/quarantined row
        for row in (
            self.catalog.filter(pl.col("status") != STATUS_DUPLICATE).select("sha256", "path").iter_rows()
        ):
            self.original_of.setdefault(row[0], row[1])
        self.pending: dict[str, list[str]] = {}  # sha256 being parsed -> duplicate paths waiting on it
        self.bases: dict[str, dict[str, Any]] = {}  # path being parsed -> its row's file columns
        self.waiting_bases: dict[str, dict[str, Any]] = {}  # duplicate path waiting -> its file columns
        self.pool: ProcessPoolExecutor | None = None
        self.in_flight: dict[Future, ParseTask] = {}
        self.progress: tqdm | None = None
        if not paths.catalog.exists():
            write_catalog(paths.root, self.catalog)  # the DuckDB catalog view needs the file
        self.views_needed = not views_current(paths.root)
        self.views_thread: threading.Thread | None = None
        self.views_built = False

    # -- catalog rows ---------------------------------------------------------------

    def _base_row(self, path: Path, sha256: str, stat: os.stat_result) -> dict[str, Any]:
        return {
            "sha256": sha256,
            "path": str(path),
            "size": stat.st_size,
            "mtime": _mtime(stat),
            "batch": self.batch,
            "ingested_at": datetime.now(UTC),
        }

    def _add_row(self, row: dict[str, Any]) -> None:
        self.new_rows[row["path"]] = row

    def _original_row(self, sha256: str) -> dict[str, Any] | None:
        path = self.original_of.get(sha256)
        if path is None:
            return None
        if path in self.new_rows:
            return self.new_rows[path]
        match = self.catalog.filter(pl.col("path") == path)
        return match.row(0, named=True) if match.height else None

    def _add_duplicate(self, base: dict[str, Any]) -> None:
        original = self._original_row(base["sha256"]) or {}
        row = {**base, "status": STATUS_DUPLICATE, "duplicate_of": original.get("path")}
        row.update({col: original.get(col) for col in REPLAY_COLUMNS})
        self._add_row(row)
        self.summary.duplicates += 1
        self.progress.update(1)

    def _record_result(self, result: ParseResult, base: dict[str, Any]) -> None:
        if result.info is not None:
            info = result.info
            row = {
                **base,
                "status": STATUS_OK,
                "slippi_version": info.slippi_version,
                "stage": info.stage,
                "players": [asdict(p) for p in info.players],
                "frame_rows": info.frame_rows,
                "frames": info.frames,
                "first_frame": info.first_frame,
                "last_frame": info.last_frame,
                "duration_s": info.duration_s,
                "end_method": info.end_method,
                "frame_table": str(self.paths.frame_table(result.sha256).relative_to(self.paths.root)),
            }
            self.summary.ok += 1
            self.summary.frames += info.frames
            if self.views_needed and self.views_thread is None:
                # DuckDB views bind to the frame tables that exist; one is enough, later
                # ones are seen at query time. Building now overlaps the parsing.
                self.views_thread = threading.Thread(target=self._build_views_quietly, daemon=True)
                self.views_thread.start()
        else:
            row = {
                **base,
                "status": STATUS_QUARANTINED,
                "error_class": result.error_class,
                "error": result.error,
            }
            self.summary.quarantined += 1
            self.summary.quarantined_files.append((result.path, result.error_class or "", result.error or ""))
        self._add_row(row)
        self.progress.update(1)
        self.original_of.setdefault(result.sha256, result.path)
        for dup_base in self.pending.pop(result.sha256, []):
            self._add_duplicate(self.waiting_bases.pop(dup_base))

    def flush(self, force: bool = False) -> None:
        """Write the catalog atomically if rows were added (every few seconds, or when forced)."""
        if not self.new_rows or (not force and time.monotonic() - self.last_flush < CATALOG_FLUSH_SECONDS):
            return
        _sync_file_system(self.paths.frames_dir)  # the tables these rows name reach the disk first
        added = catalog_frame(self.new_rows.values())
        kept = self.catalog.filter(~pl.col("path").is_in(list(self.new_rows)))
        self.catalog = pl.concat([kept, added], how="vertical")
        write_catalog(self.paths.root, self.catalog)
        for row in self.new_rows.values():
            self.by_path[row["path"]] = row
        self.new_rows = {}
        self.last_flush = time.monotonic()

    def _build_views_quietly(self) -> None:
        # A failure here is retried (and raised) in the main thread at the end of the run.
        with contextlib.suppress(Exception):
            build_views(self.paths.root)
            self.views_built = True

    # -- deciding what to do with a file ---------------------------------------------

    def _has_frame_table(self, sha256: str) -> bool:
        # Empty counts as missing: what a power cut can leave of a file not yet synced.
        try:
            return self.paths.frame_table(sha256).stat().st_size > 0
        except FileNotFoundError:
            return False

    def _is_unchanged(self, path: Path, stat: os.stat_result) -> bool:
        """Same path, size and mtime as its catalog row (and its frame table still there)."""
        row = self.by_path.get(str(path))
        if row is None or row["size"] != stat.st_size or row["mtime"] != _mtime(stat):
            return False
        return row["status"] != STATUS_OK or self._has_frame_table(row["sha256"])

    def visit(self, path: Path) -> None:
        """Skip, record as duplicate, or send `path` to a worker."""
        try:
            stat = path.stat()
            if self._is_unchanged(path, stat):
                self.summary.skipped += 1
                self.progress.update(1)
                return
            sha256 = sha256_file(path)
        except OSError as exc:
            raise UserError(f"cannot read replay file {path}: {exc.strerror or exc}") from exc
        base = self._base_row(path, sha256, stat)
        known = self.by_path.get(str(path))
        if (
            known is not None
            and known["sha256"] == sha256
            and (known["status"] != STATUS_OK or self._has_frame_table(sha256))
        ):
            # Touched but unchanged: keep the row, refresh its mtime so the next run skips fast.
            refreshed = self.catalog.filter(pl.col("path") == str(path)).row(0, named=True)
            self._add_row({**refreshed, "mtime": base["mtime"]})
            self.summary.skipped += 1
            self.progress.update(1)
            return
        original = self.original_of.get(sha256)
        if original is not None and original != str(path):
            self._add_duplicate(base)
            return
        if sha256 in self.pending:
            self.pending[sha256].append(str(path))
            self.waiting_bases[str(path)] = base
            return
        self.pending[sha256] = []
        self.bases[str(path)] = base
        self._submit(ParseTask(str(path), sha256, str(self.paths.frame_table(sha256)), self.rollback))

    # -- the worker pool ----------------------------------------------------------

    def _new_pool(self, workers: int) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=workers, mp_context=_pool_context(), initializer=init_worker, initargs=(self.lock_fd,)
        )

    def _submit(self, task: ParseTask) -> None:
        if self.pool is None:
            self.pool = self._new_pool(self.workers)
        try:
            self.in_flight[self.pool.submit(parse_and_write, task)] = task
        except BrokenProcessPool:  # a worker died since the last collect
            self._recover([task])
        while len(self.in_flight) >= self.workers * TASKS_IN_FLIGHT_PER_WORKER:
            self._collect(wait_all=False)

    def _finish(self, task: ParseTask, result: ParseResult) -> None:
        self._record_result(result, self.bases.pop(task.path))
        self.flush()

    def _collect(self, wait_all: bool) -> None:
        """Record finished tasks; on a crashed worker, re-run the unfinished ones one by one."""
        while self.in_flight:
            done, _ = wait(list(self.in_flight), return_when=FIRST_COMPLETED)
            broken: list[ParseTask] = []
            for future in done:
                task = self.in_flight.pop(future)
                try:
                    result = future.result()
                except BrokenProcessPool:
                    broken.append(task)
                    continue
                except OSError as exc:
                    raise UserError(f"cannot write the frame table {task.frame_table}: {exc}") from exc
                self._finish(task, result)
            if broken:
                self._recover(broken)
            if not wait_all:
                return

    def _recover(self, broken: list[ParseTask]) -> None:
        """After a worker died: re-run every unfinished task alone, then go on with a new pool."""
        broken = broken + list(self.in_flight.values())
        self.in_flight.clear()
        self._shutdown_pool()
        for task in broken:
            self._finish(task, self._run_isolated(task))

    def _run_isolated(self, task: ParseTask) -> ParseResult:
        """Parse one file in its own process, so a crash names the file that caused it."""
        with self._new_pool(1) as pool:
            try:
                return pool.submit(parse_and_write, task).result()
            except BrokenProcessPool:
                return ParseResult(
                    task.path,
                    task.sha256,
                    error_class=WORKER_CRASH,
                    error="the parser process died while reading this file (crash in native code)",
                )

    def _shutdown_pool(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None

    def run(self, files: list[Path], progress: bool) -> IngestSummary:
        with tqdm(
            total=len(files), desc="ingest", unit="file", file=sys.stderr, disable=not progress, leave=False
        ) as bar:
            self.progress = bar
            try:
                for path in sorted(files, key=_largest_first):
                    self.visit(path)
                self._collect(wait_all=True)
            except BaseException:
                # Keep what finished (Ctrl-C, a write error): the catalog stays consistent.
                self._shutdown_pool()
                with contextlib.suppress(Exception):
                    self.flush(force=True)
                raise
        self._shutdown_pool()
        self.flush(force=True)
        if self.views_thread is not None:
            self.views_thread.join()
        if self.views_needed and not self.views_built:
            build_views(self.paths.root)  # no thread ran, or it failed: build (and raise) here
        return self.summary


def ingest_replays(
    replays: Path | str | list[Path],
    data_root: Path | str,
    workers: int = 1,
    rollback: str = "first",
    batch: str | None = None,
    progress: bool = True,
) -> IngestSummary:
    """Ingest the .slp files under `replays` into `data_root`; idempotent and crash-safe.

    Corrupt files are quarantined in the catalog, never raised. Raises UserError for
    what the user must fix: a missing folder, an unreadable file, an unwritable data
    root, another ingest holding the lock, a bad option.
    """
    if rollback not in ROLLBACK_CHOICES:
        raise UserError(f"--rollback must be one of {', '.join(ROLLBACK_CHOICES)}, got {rollback!r}")
    if workers < 1:
        raise UserError(f"--workers must be at least 1, got {workers}")
    start = time.perf_counter()
    files = find_replays(replays)
    paths = _prepare_data_root(Path(data_root))
    with ingest_lock(paths.ingest_lock) as lock_fd:
        _remove_stale_temp_files(paths)
        summary = _Ingest(paths, workers, rollback, batch, lock_fd).run(files, progress)
    summary.seconds = round(time.perf_counter() - start, 3)
    return summary
