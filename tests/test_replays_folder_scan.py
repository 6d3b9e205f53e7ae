"""The replay-folder scan behind the sensor: names and mtimes only, with a cursor."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from exphil_assets.replays.folder_scan import ScanCursor, scan_new_replays


def _touch(path: Path, mtime: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    os.utime(path, (mtime, mtime))
    return path


def test_no_new_files_returns_nothing_and_keeps_cursor(tmp_path: Path):
    files, cursor = scan_new_replays(tmp_path, ScanCursor(), now=1000.0)
    assert files == [] and cursor == ScanCursor()


def test_two_new_files_are_found_oldest_first(tmp_path: Path):
    b = _touch(tmp_path / "b.slp", 200.0)
    a = _touch(tmp_path / "sub" / "a.slp", 100.0)
    _touch(tmp_path / "notes.txt", 150.0)
    files, cursor = scan_new_replays(tmp_path, ScanCursor(), now=1000.0)
    assert files == [a, b]
    assert cursor.mtime == 200.0 and cursor.names == frozenset({"b.slp"})


def test_cursor_round_trip_skips_seen_files(tmp_path: Path):
    _touch(tmp_path / "a.slp", 100.0)
    _, cursor = scan_new_replays(tmp_path, ScanCursor(), now=1000.0)
    restored = ScanCursor.from_json(cursor.to_json())
    assert restored == cursor
    assert scan_new_replays(tmp_path, restored, now=1000.0)[0] == []
    c = _touch(tmp_path / "c.slp", 100.0)  # same mtime as a seen file, new name
    files, cursor2 = scan_new_replays(tmp_path, restored, now=1000.0)
    assert files == [c]
    assert cursor2.names == frozenset({"a.slp", "c.slp"})


def test_files_still_being_written_wait_for_a_later_scan(tmp_path: Path):
    _touch(tmp_path / "live.slp", 998.0)
    assert scan_new_replays(tmp_path, ScanCursor(), min_age_s=5.0, now=1000.0)[0] == []
    assert len(scan_new_replays(tmp_path, ScanCursor(), min_age_s=5.0, now=1010.0)[0]) == 1


def test_missing_folder_names_the_path(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="nope"):
        scan_new_replays(tmp_path / "nope", ScanCursor())
