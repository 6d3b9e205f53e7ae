"""The ingest lock: one ingest at a time per data root (`data/.ingest.lock`)."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from exphil_assets.errors import UserError


def _holder_pid(lock_path: Path) -> str:
    try:
        return lock_path.read_text().strip() or "unknown"
    except OSError:
        return "unknown"


@contextlib.contextmanager
def ingest_lock(lock_path: Path) -> Iterator[int]:
    """Hold an exclusive, non-blocking flock on `lock_path`; yield its file descriptor.

    A second holder fails at once with a UserError naming the lock and the pid
    written into it. The kernel drops the lock when the holder dies (even by
    SIGKILL), so a stale file never blocks a later run.
    """
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise UserError(f"cannot create the ingest lock {lock_path}: {exc.strerror}") from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UserError(
                f"another ingest is running on this data folder: {lock_path} is held by pid "
                f"{_holder_pid(lock_path)}; wait for it to finish"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        try:
            yield fd
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
