"""`exphil batch`: register files as a replay-batch partition by hand."""

from __future__ import annotations

import shutil
from pathlib import Path

from dagster import DagsterInstance

from exphil_assets.cli.main import main
from exphil_assets.replays.batches import read_batch


def test_batch_registers_files_and_adds_the_partition(tmp_path: Path, shared_replays, monkeypatch, capsys):
    folder = tmp_path / "replays"
    folder.mkdir()
    for name in ("peppi__v3.18.slp", "peppi__shield_drop.slp", "peppi__dash_back.slp"):
        shutil.copyfile(shared_replays / name, folder / name)
    home = tmp_path / "dagster_home"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    assert main(["batch", "--replays", str(folder), "--max-files", "2", "--data", str(tmp_path / "data")]) == 0
    key = capsys.readouterr().out.strip()
    assert [p.name for p in read_batch(tmp_path / "data", key)] == ["peppi__dash_back.slp", "peppi__shield_drop.slp"]
    with DagsterInstance.get() as instance:
        assert instance.get_dynamic_partitions("replay_batches") == [key]


def test_batch_of_an_empty_folder_is_a_one_line_error(tmp_path: Path, capsys):
    assert main(["batch", "--replays", str(tmp_path), "--data", str(tmp_path / "data")]) == 2
    err = capsys.readouterr().err.strip()
    assert "no .slp files" in err and len(err.splitlines()) == 1
