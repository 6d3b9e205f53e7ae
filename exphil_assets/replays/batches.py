"""Replay batches: a named list of files ingested together (a Dagster `replay_batches` partition).

A batch is a small JSON manifest, `data/batches/{key}.json`. Keys sort by
creation time: `20261125T073800-1a2b3c4d` (UTC time, then a hash of the file list).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from exphil_assets.atomic import write_json_atomic
from exphil_assets.errors import UserError
from exphil_assets.paths import DataPaths

BATCH_KEY_PATTERN = re.compile(r"^\d{8}T\d{6}-[0-9a-f]{8}$")


def batch_key(files: list[str], now: datetime | None = None) -> str:
    """Sortable key: UTC timestamp, then the first 8 hex digits of a hash of the sorted paths."""
    when = (now or datetime.now(UTC)).astimezone(UTC)
    digest = hashlib.sha256("\n".join(sorted(files)).encode()).hexdigest()[:8]
    return f"{when:%Y%m%dT%H%M%S}-{digest}"


def register_batch(data_root: str | Path, files: Iterable[str | Path]) -> str:
    """Write the manifest of a new batch of replay files; return its key."""
    paths = [str(Path(f).expanduser().resolve()) for f in files]
    if not paths:
        raise UserError("a replay batch needs at least one file")
    key = batch_key(paths)
    manifest = {"key": key, "created_at": datetime.now(UTC).isoformat(), "files": sorted(paths)}
    write_json_atomic(DataPaths(Path(data_root)).batch_manifest(key), manifest)
    return key


def read_batch(data_root: str | Path, key: str) -> list[Path]:
    """The files of batch `key`; UserError naming the manifest if it is missing or malformed."""
    manifest = DataPaths(Path(data_root)).batch_manifest(key)
    try:
        data = json.loads(manifest.read_text())
        return [Path(f) for f in data["files"]]
    except FileNotFoundError:
        raise UserError(f"unknown replay batch {key!r}: no manifest at {manifest}") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UserError(f"cannot read the batch manifest {manifest}: {exc}") from exc


def list_batches(data_root: str | Path) -> list[str]:
    """Keys of every registered batch, oldest first."""
    folder = DataPaths(Path(data_root)).batches_dir
    if not folder.exists():
        return []
    return sorted(p.stem for p in folder.glob("*.json") if BATCH_KEY_PATTERN.match(p.stem))
