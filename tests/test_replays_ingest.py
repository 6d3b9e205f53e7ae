"""ingest_replays: idempotence, duplicates, bad files, crashes, SIGKILL, the lock."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from exphil_assets.errors import UserError
from exphil_assets.replays import ingest as ingest_module
from exphil_assets.replays.catalog import read_catalog
from exphil_assets.replays.ingest import ingest_replays
from exphil_assets.replays.lock import ingest_lock
from exphil_assets.replays.worker import parse_and_write

# Columns that legitimately differ between two runs over the same files.
RUN_COLUMNS = ("ingested_at", "batch")

SMALL = ("peppi__v3.18.slp", "peppi__netplay.slp", "peppi__short_game_tbh10.slp", "peppi__corrupt.slp")


def _small_folder(shared_replays: Path, tmp_path: Path, names=SMALL) -> Path:
    folder = tmp_path / "replays"
    folder.mkdir()
    for name in names:
        shutil.copy(shared_replays / name, folder / name)
    return folder


def _frame_files(data_root: Path) -> dict[str, tuple[int, int]]:
    """name -> (inode, mtime_ns) of every frame table."""
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in (data_root / "frames").glob("*.parquet")}


def _comparable(catalog: pl.DataFrame) -> pl.DataFrame:
    return catalog.drop(RUN_COLUMNS).sort("path")


def test_rerunning_ingest_changes_nothing(shared_replays, tmp_path):
    data = tmp_path / "data"
    first = ingest_replays(shared_replays, data, progress=False)
    assert (first.ok, first.quarantined, first.skipped) == (45, 5, 0)
    tables = _frame_files(data)
    catalog = read_catalog(data)
    catalog_stat = (data / "catalog.parquet").stat()

    again = ingest_replays(shared_replays, data, workers=2, progress=False)
    assert (again.ok, again.quarantined, again.duplicates, again.skipped, again.frames) == (0, 0, 0, 50, 0)
    assert _frame_files(data) == tables  # no frame table rewritten
    assert read_catalog(data).equals(catalog)
    assert (data / "catalog.parquet").stat().st_mtime_ns == catalog_stat.st_mtime_ns


def test_touched_file_is_rehashed_and_still_skipped(shared_replays, tmp_path):
    folder = _small_folder(shared_replays, tmp_path)
    data = tmp_path / "data"
    ingest_replays(folder, data, progress=False)
    tables = _frame_files(data)
    os.utime(folder / "peppi__v3.18.slp", ns=(1_700_000_000_000_000_000, 1_700_000_000_000_000_000))
    again = ingest_replays(folder, data, progress=False)
    assert (again.ok, again.skipped) == (0, 4)
    assert _frame_files(data) == tables
    assert read_catalog(data).height == 4


def test_missing_or_empty_frame_table_is_rebuilt_on_the_next_run(shared_replays, tmp_path):
    folder = _small_folder(shared_replays, tmp_path)
    data = tmp_path / "data"
    ingest_replays(folder, data, progress=False)
    tables = sorted((data / "frames").glob("*.parquet"))
    tables[0].write_bytes(b"")  # what a power cut can leave of an unsynced file
    tables[1].unlink()
    again = ingest_replays(folder, data, progress=False)
    assert (again.ok, again.skipped) == (2, 2)
    assert all(t.stat().st_size > 0 for t in tables)
    assert read_catalog(data).height == 4


def test_copy_under_another_name_is_a_duplicate(shared_replays, tmp_path):
    folder = _small_folder(shared_replays, tmp_path)
    data = tmp_path / "data"
    ingest_replays(folder, data, progress=False)
    shutil.copy(folder / "peppi__v3.18.slp", folder / "renamed copy.slp")
    summary = ingest_replays(folder, data, progress=False)
    assert (summary.ok, summary.duplicates, summary.skipped) == (0, 1, 4)
    catalog = read_catalog(data)
    assert catalog.height == 5
    dup = catalog.filter(pl.col("status") == "duplicate").row(0, named=True)
    original = catalog.filter(pl.col("path") == str((folder / "peppi__v3.18.slp").resolve())).row(
        0, named=True
    )
    assert dup["path"].endswith("renamed copy.slp")
    assert dup["duplicate_of"] == original["path"]
    assert dup["sha256"] == original["sha256"]
    assert dup["frames"] == original["frames"]
    assert len(list((data / "frames").glob("*.parquet"))) == 3


def test_two_copies_in_one_run_give_one_replay_and_one_duplicate(shared_replays, tmp_path):
    folder = _small_folder(shared_replays, tmp_path, names=("peppi__v3.18.slp",))
    shutil.copy(folder / "peppi__v3.18.slp", folder / "z_copy.slp")
    summary = ingest_replays(folder, tmp_path / "data", workers=2, progress=False)
    assert (summary.ok, summary.duplicates) == (1, 1)
    dup = read_catalog(tmp_path / "data").filter(pl.col("status") == "duplicate").row(0, named=True)
    assert dup["path"].endswith("z_copy.slp") and dup["duplicate_of"].endswith("peppi__v3.18.slp")
    assert dup["frames"] == 941


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("empty.slp", b""),
        ("random.slp", os.urandom(4096)),
        ("notes.slp", b"these are my notes, not a replay\n" * 20),
    ],
)
def test_non_replay_files_are_quarantined(tmp_path, name, content):
    folder = tmp_path / "replays"
    folder.mkdir()
    (folder / name).write_bytes(content)
    summary = ingest_replays(folder, tmp_path / "data", progress=False)
    assert (summary.ok, summary.quarantined) == (0, 1)
    path, error_class, error = summary.quarantined_files[0]
    assert path.endswith(name) and error_class and error
    row = read_catalog(tmp_path / "data").row(0, named=True)
    assert row["status"] == "quarantined" and row["error_class"] == error_class


def test_missing_replay_folder_is_a_user_error_naming_it(tmp_path):
    with pytest.raises(UserError, match="not found: .*nowhere"):
        ingest_replays(tmp_path / "nowhere", tmp_path / "data", progress=False)


def test_data_root_that_is_a_file_is_a_user_error_naming_it(shared_replays, tmp_path):
    folder = _small_folder(shared_replays, tmp_path, names=("peppi__v3.18.slp",))
    blocker = tmp_path / "data"
    blocker.write_text("not a folder")
    with pytest.raises(UserError, match=str(blocker)):
        ingest_replays(folder, blocker, progress=False)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_replay_is_a_user_error_naming_it(shared_replays, tmp_path):
    folder = _small_folder(shared_replays, tmp_path, names=("peppi__v3.18.slp",))
    (folder / "peppi__v3.18.slp").chmod(0)
    with pytest.raises(UserError, match="peppi__v3.18.slp"):
        ingest_replays(folder, tmp_path / "data", progress=False)


def test_bad_options_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="--rollback"):
        ingest_replays(tmp_path, tmp_path / "data", rollback="middle")
    with pytest.raises(UserError, match="--workers"):
        ingest_replays(tmp_path, tmp_path / "data", workers=0)


def _crash_on_marked_files(task):
    """Stands in for the worker: dies like a segfaulting parser on files named *crash*."""
    if "crash" in Path(task.path).name:
        os._exit(139)
    return parse_and_write(task)


@pytest.mark.parametrize("workers", [1, 2])
def test_worker_process_crash_quarantines_that_file_and_the_run_goes_on(
    shared_replays, tmp_path, monkeypatch, workers
):
    folder = _small_folder(shared_replays, tmp_path)
    shutil.copy(shared_replays / "peppi__v3.13.slp", folder / "b_crash.slp")
    shutil.copy(shared_replays / "peppi__v3.12.slp", folder / "c_crash.slp")
    monkeypatch.setattr(ingest_module, "parse_and_write", _crash_on_marked_files)
    summary = ingest_replays(folder, tmp_path / "data", workers=workers, progress=False)
    assert (summary.ok, summary.quarantined) == (3, 3)
    crashed = sorted((Path(p).name, c) for p, c, _ in summary.quarantined_files if "crash" in Path(p).name)
    assert crashed == [("b_crash.slp", "WorkerCrash"), ("c_crash.slp", "WorkerCrash")]
    catalog = read_catalog(tmp_path / "data")
    assert catalog.height == 6 and catalog.filter(pl.col("status") == "ok").height == 3


def test_second_ingest_on_the_same_data_root_fails_on_the_lock(shared_replays, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    with ingest_lock(data / ".ingest.lock"):
        with pytest.raises(UserError, match=rf"\.ingest\.lock is held by pid {os.getpid()}"):
            ingest_replays(shared_replays, data, progress=False)
    assert not (data / "catalog.parquet").exists()
    # Released: the next run goes through.
    assert ingest_replays(_small_folder(shared_replays, tmp_path), data, progress=False).ok == 3


def test_sigkill_mid_run_then_rerun_equals_one_clean_run(shared_replays, ingested_shared_data, tmp_path):
    clean = ingested_shared_data  # one clean run over the same files

    data = tmp_path / "data"
    # A first, finished batch, so the killed run has a catalog to (not) corrupt.
    ingest_replays([shared_replays / name for name in SMALL], data, progress=False)
    frames_dir = data / "frames"
    before = len(list(frames_dir.glob("*.parquet")))
    proc = subprocess.Popen(
        [sys.executable, "-m", "exphil_assets.cli.main", "ingest", "--replays", str(shared_replays),
         "--data", str(data), "--workers", "1", "--json"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while len(list(frames_dir.glob("*.parquet"))) < before + 3 and time.monotonic() < deadline:
        time.sleep(0.002)
    assert proc.poll() is None, "ingest finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert len(list(frames_dir.glob("*.parquet"))) < 45  # killed mid-way
    # Its worker dies with it (PR_SET_PDEATHSIG), so the lock is free again at once.
    time.sleep(0.2)

    summary = ingest_replays(shared_replays, data, progress=False)
    assert summary.ok + summary.quarantined + summary.skipped == 50
    assert not list(data.glob(".tmp-*")) and not list(frames_dir.glob(".tmp-*"))
    assert _comparable(read_catalog(data)).equals(_comparable(read_catalog(clean)))
    assert sorted(p.name for p in frames_dir.iterdir()) == sorted(
        p.name for p in (clean / "frames").iterdir()
    )
    for table in frames_dir.glob("*.parquet"):
        assert pl.read_parquet(table).equals(pl.read_parquet(clean / "frames" / table.name)), table.name


def test_progress_bar_goes_to_stderr_unless_disabled(shared_replays, tmp_path, capsys):
    folder = _small_folder(shared_replays, tmp_path)
    ingest_replays(folder, tmp_path / "data", progress=True)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "ingest:" in captured.err and "/4 [" in captured.err
    ingest_replays(folder, tmp_path / "data2", progress=False)
    assert capsys.readouterr() == ("", "")
