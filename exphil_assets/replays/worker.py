"""What an ingest worker process does with one replay: parse it, write its frame table.

Runs in a child process (ingest.py's process pool). It touches only peppi,
numpy and pyarrow, never polars, so it is safe in a forked child. It returns a
small picklable result; the frame table itself never crosses processes.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from exphil_assets.atomic import atomic_path
from exphil_assets.replays.frame_schema import META_SHA256
from exphil_assets.replays.parse import ReplayInfo, read_frame_arrow

# lz4 takes ~40% less CPU to write than zstd level 1, for ~30% more bytes (measured on the shared replays).
PARQUET_COMPRESSION = "lz4"
MAX_ERROR_CHARS = 500

_in_worker_process = False


@dataclass(frozen=True)
class ParseTask:
    path: str
    sha256: str
    frame_table: str  # absolute path of frames/{sha256}.parquet
    rollback: str


@dataclass(frozen=True)
class ParseResult:
    path: str
    sha256: str
    info: ReplayInfo | None = None
    error_class: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.info is not None


def init_worker(lock_fd: int | None) -> None:
    """Process-pool initializer: detach from the parent's lock, die with the parent."""
    global _in_worker_process
    _in_worker_process = True
    if lock_fd is not None:
        # A forked child shares the parent's flock; closing our copy keeps an orphaned
        # worker from holding the ingest lock after the parent is killed.
        with contextlib.suppress(OSError):
            os.close(lock_fd)
    if sys.platform == "linux":
        with contextlib.suppress(OSError, AttributeError):
            PR_SET_PDEATHSIG = 1
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    # A Rust panic prints to stderr; keep it to the message, not a 60-line backtrace.
    os.environ["RUST_BACKTRACE"] = "0"


@contextlib.contextmanager
def _stderr_silenced() -> Iterator[None]:
    """Send fd 2 to /dev/null (worker processes only): peppi's panics are reported as results."""
    if not _in_worker_process:
        yield
        return
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def write_frame_table(table: Any, target: str | Path, sha256: str) -> None:
    """Write an Arrow frame table atomically, with its sha256 in the key-value metadata."""
    table = table.replace_schema_metadata(
        {**(table.schema.metadata or {}), META_SHA256.encode(): sha256.encode()}
    )
    # No suffix on the temporary name, so a `frames/*.parquet` glob never sees it.
    # No fsync per table (about 5 ms each on a VM disk, as long as parsing a replay):
    # the ingest syncs the file system once before the catalog row that names it.
    with atomic_path(target, fsync=False) as tmp:
        pq.write_table(
            table,
            tmp,
            compression=PARQUET_COMPRESSION,
            use_dictionary=False,  # floats and flags barely repeat; dictionaries cost time
            write_statistics=["frame"],  # min/max frame id lets DuckDB prune; others cost time
        )


def parse_and_write(task: ParseTask) -> ParseResult:
    """Parse one replay and write its frame table; any failure becomes a quarantine result.

    peppi raises `pyo3_runtime.PanicException`, a BaseException, on some corrupt
    files, so we catch BaseException; only Ctrl-C and exit requests go through.
    """
    try:
        with _stderr_silenced():
            table, info = read_frame_arrow(task.path, task.rollback)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # noqa: BLE001 - see docstring
        return ParseResult(
            task.path,
            task.sha256,
            error_class=type(exc).__name__,
            error=(str(exc) or repr(exc))[:MAX_ERROR_CHARS],
        )
    # Outside the try: a failed write (disk full, no permission) is the data folder's
    # fault, not the replay's, and must stop the run instead of quarantining the file.
    write_frame_table(table, task.frame_table, task.sha256)
    return ParseResult(task.path, task.sha256, info=info)
