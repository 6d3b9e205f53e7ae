"""Cheap discovery of new replay files: names and mtimes only, never parsing.

The sensor keeps a cursor (the newest mtime seen plus the names seen at exactly
that mtime), so a listing costs one `scandir` walk and the cursor stays small
for folders of 100,000 replays.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

REPLAY_SUFFIXES = (".slp",)


@dataclass(frozen=True)
class ScanCursor:
    """Files with mtime < `mtime`, or == `mtime` and named in `names`, were already seen."""

    mtime: float = 0.0
    names: frozenset[str] = field(default_factory=frozenset)

    def to_json(self) -> str:
        return json.dumps({"mtime": self.mtime, "names": sorted(self.names)})

    @classmethod
    def from_json(cls, text: str | None) -> ScanCursor:
        if not text:
            return cls()
        data = json.loads(text)
        return cls(mtime=float(data["mtime"]), names=frozenset(data["names"]))


def _walk_replays(folder: Path):
    """Yield (path, mtime) for every replay below `folder`, recursing into sub-folders."""
    stack = [folder]
    while stack:
        current = stack.pop()
        with os.scandir(current) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(Path(entry.path))
                elif entry.name.lower().endswith(REPLAY_SUFFIXES) and entry.is_file():
                    yield Path(entry.path), entry.stat().st_mtime


def scan_new_replays(
    folder: Path, cursor: ScanCursor, min_age_s: float = 5.0, now: float | None = None
) -> tuple[list[Path], ScanCursor]:
    """Return the replays that appeared since `cursor`, oldest first, and the advanced cursor.

    Files modified in the last `min_age_s` seconds are left for a later scan:
    Slippi writes a replay while the game is played.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"replay folder does not exist: {folder}")
    now = time.time() if now is None else now
    fresh: list[tuple[float, Path]] = []
    for path, mtime in _walk_replays(folder):
        if now - mtime < min_age_s:
            continue
        key = str(path.relative_to(folder))
        if mtime > cursor.mtime or (mtime == cursor.mtime and key not in cursor.names):
            fresh.append((mtime, path))
    if not fresh:
        return [], cursor
    fresh.sort()
    newest = fresh[-1][0]
    names = {str(p.relative_to(folder)) for m, p in fresh if m == newest}
    if newest == cursor.mtime:
        names |= cursor.names
    return [p for _, p in fresh], ScanCursor(mtime=newest, names=frozenset(names))
