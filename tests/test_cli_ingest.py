"""`exphil ingest` and `exphil catalog` end to end, as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from exphil_assets.cli.main import main
from exphil_assets.replays.lock import ingest_lock
from exphil_assets.replays.names import character_name


def _exphil(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "exphil_assets.cli.main", *args], capture_output=True, text=True, timeout=300
    )


def test_all_shared_replays_ingest_through_the_cli(shared_replays, manifest, tmp_path):
    result = _exphil("ingest", "--replays", str(shared_replays), "--data", str(tmp_path / "data"), "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)  # exactly one JSON object on stdout
    assert {k: summary[k] for k in ("ok", "quarantined", "duplicates", "skipped")} == {
        "ok": 45, "quarantined": 5, "duplicates": 0, "skipped": 0,
    }  # fmt: skip
    assert summary["frames"] == sum(r.unique_frame_ids for r in manifest if r.parses)
    assert summary["seconds"] > 0
    quarantined = {q["path"].rsplit("/", 1)[1]: q for q in summary["quarantined_files"]}
    assert set(quarantined) == {r.file for r in manifest if not r.parses}
    assert quarantined["libmelee__test_game_1.slp"]["error_class"] == "PanicException"
    for row in manifest:
        if not row.parses:
            assert row.failure.split(":")[1].strip() == quarantined[row.file]["error_class"]
            assert quarantined[row.file]["error"][:20] in row.failure

    listed = _exphil("catalog", "--data", str(tmp_path / "data"), "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {r["path"].rsplit("/", 1)[1]: r for r in json.loads(listed.stdout)}
    assert len(rows) == 50
    for entry in manifest:
        row = rows[entry.file]
        assert set(row) == {"path", "sha256", "status", "error", "frames", "stage", "players"}
        if entry.parses:
            assert row["status"] == "ok" and row["frames"] == entry.unique_frame_ids
            assert row["stage"] == entry.stage_id
            assert (
                tuple((p["port"], character_name(p["character"]), p["type"]) for p in row["players"])
                == entry.players
            )
        else:
            assert row["status"] == "quarantined" and row["error"]


def test_missing_replay_folder_prints_one_line_and_fails(tmp_path):
    result = _exphil("ingest", "--replays", str(tmp_path / "nowhere"), "--data", str(tmp_path / "data"))
    assert result.returncode != 0
    assert result.stderr.strip().count("\n") == 0
    assert "nowhere" in result.stderr and "Traceback" not in result.stderr


def test_second_concurrent_ingest_gets_the_lock_error(shared_replays, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    with ingest_lock(data / ".ingest.lock"):
        result = _exphil("ingest", "--replays", str(shared_replays), "--data", str(data), "--json")
    assert result.returncode == 2
    assert f".ingest.lock is held by pid {os.getpid()}" in result.stderr
    assert result.stdout == "" and "Traceback" not in result.stderr


def test_ingest_prints_a_readable_summary(shared_replays, tmp_path, capsys):
    assert (
        main(["ingest", "--replays", str(shared_replays / "peppi__v3.18.slp"), "--data", str(tmp_path)]) == 0
    )
    out = capsys.readouterr().out
    assert "ok                 1" in out and "(941 frames)" in out


def test_rollback_option_reaches_the_frame_tables(shared_replays, tmp_path):
    import pyarrow.parquet as pq

    args = [
        "ingest",
        "--replays",
        str(shared_replays / "peppi__v3.16.slp"),
        "--data",
        str(tmp_path),
        "--json",
    ]
    assert main([*args, "--rollback", "last"]) == 0
    (table,) = (tmp_path / "frames").glob("*.parquet")
    assert pq.read_schema(table).metadata[b"exphil.rollback"] == b"last"


def test_catalog_text_lists_files_and_counts_by_character_and_stage(ingested_shared_data, capsys):
    assert main(["catalog", "--data", str(ingested_shared_data)]) == 0
    out = capsys.readouterr().out
    assert "peppi__ics2.slp" in out and "Ice Climbers" in out
    assert "files: 45 ok, 5 quarantined" in out
    assert "players by character" in out and "replays by stage" in out
    assert "Final Destination   27" in out


def test_catalog_without_an_ingest_is_a_clear_error(tmp_path, capsys):
    assert main(["catalog", "--data", str(tmp_path)]) == 2
    assert "no catalog" in capsys.readouterr().err


@pytest.mark.parametrize("bad", [["--rollback", "middle"], ["--workers", "zero"]])
def test_bad_options_name_the_option(shared_replays, tmp_path, bad, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["ingest", "--replays", str(shared_replays), "--data", str(tmp_path), *bad])
    assert exit_info.value.code == 2
    assert bad[0] in capsys.readouterr().err


def test_ingest_a_registered_batch_by_key(shared_replays, tmp_path, capsys):
    from exphil_assets.replays.batches import register_batch
    from exphil_assets.replays.catalog import read_catalog

    key = register_batch(tmp_path, [shared_replays / "peppi__v3.18.slp", shared_replays / "peppi__v3.13.slp"])
    assert main(["ingest", "--batch", key, "--data", str(tmp_path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["ok"] == 2
    assert read_catalog(tmp_path)["batch"].to_list() == [key, key]


def test_ingest_without_replays_or_batch_says_what_is_missing(tmp_path, capsys):
    assert main(["ingest", "--data", str(tmp_path)]) == 2
    assert "--replays DIR is required" in capsys.readouterr().err
    assert main(["ingest", "--batch", "20260101T000000-deadbeef", "--data", str(tmp_path)]) == 2
    assert "unknown replay batch" in capsys.readouterr().err
