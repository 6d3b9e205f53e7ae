"""The `replay_frames` Dagster asset and its check, materialized in-process on a real batch."""

from __future__ import annotations

from dagster import DagsterInstance, materialize

from exphil_assets.defs.ingestion import IngestConfig, replay_frames, replay_frames_valid
from exphil_assets.defs.partitions import replay_batch_partitions
from exphil_assets.defs.resources import ExphilStorage
from exphil_assets.replays.batches import register_batch
from exphil_assets.replays.catalog import read_catalog

BATCH = (
    "peppi__v3.18.slp",
    "peppi__ics2.slp",
    "peppi__nintendont.slp",
    "peppi__corrupt.slp",
    "libmelee__test_game_1.slp",
)


def test_replay_frames_materializes_a_batch_and_reports_metadata(shared_replays, manifest, tmp_path):
    data = tmp_path / "data"
    key = register_batch(data, [shared_replays / name for name in BATCH])
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(replay_batch_partitions.name, [key])

    result = materialize(
        [replay_frames, replay_frames_valid],
        partition_key=key,
        instance=instance,
        resources={"storage": ExphilStorage(data_root=str(data), replays_dir=str(shared_replays))},
        run_config={"ops": {"replay_frames": {"config": IngestConfig(workers=2).model_dump()}}},
    )
    assert result.success

    (materialization,) = result.asset_materializations_for_node("replay_frames")
    assert materialization.partition == key
    meta = {k: v.value for k, v in materialization.metadata.items()}
    expected_frames = sum(r.unique_frame_ids for r in manifest if r.file in BATCH and r.parses)
    assert (meta["files_ok"], meta["files_quarantined"], meta["files_duplicate"]) == (3, 2, 0)
    assert meta["frames"] == expected_frames
    assert meta["catalog_path"] == str(data / "catalog.parquet")
    table = meta["quarantined_files"]
    assert "| file | error class | error |" in table
    assert "peppi__corrupt.slp | OSError" in table and "libmelee__test_game_1.slp | PanicException" in table

    catalog = read_catalog(data)
    assert set(catalog["batch"].to_list()) == {key}

    (check,) = result.get_asset_check_evaluations()
    assert check.passed
    assert check.metadata["tables_checked"].value == 3
    assert check.metadata["frames_checked"].value == expected_frames
