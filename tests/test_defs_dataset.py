"""The embedded_dataset asset and its check, materialized in process over the ingested shared replays."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from dagster import AssetKey, DagsterInstance, materialize

from exphil_assets.defs.dataset import DatasetAssetConfig, embedded_dataset, embedded_dataset_valid
from exphil_assets.defs.resources import ExphilStorage
from exphil_assets.features.dataset import LABELS_FILE, load_dataset
from exphil_assets.features.validate import validate_dataset


@pytest.fixture(scope="module")
def data_root(ingested_shared_data, tmp_path_factory) -> Path:
    source = Path(ingested_shared_data)
    root = tmp_path_factory.mktemp("defs_dataset_root")
    (root / "frames").symlink_to(source / "frames")
    (root / "catalog.parquet").symlink_to(source / "catalog.parquet")
    return root


def _run(data_root: Path, instance: DagsterInstance, **config):
    return materialize(
        [embedded_dataset, embedded_dataset_valid],
        instance=instance,
        resources={"storage": ExphilStorage(data_root=str(data_root))},
        run_config={"ops": {"embedded_dataset": {"config": config}}},
    )


def test_materializing_records_counts_distributions_and_a_passing_check(data_root):
    instance = DagsterInstance.ephemeral()
    result = _run(data_root, instance, train_character="mewtwo", val_split=0.3)
    assert result.success
    (mat,) = result.asset_materializations_for_node("embedded_dataset")
    meta = {k: v.value for k, v in mat.metadata.items()}
    manifest = load_dataset(meta["dataset_path"])
    assert meta["dataset_id"] == manifest.dataset_id
    assert meta["frames"] == manifest.frames == meta["train_frames"] + meta["val_frames"]
    assert meta["train_files"] + meta["val_files"] == len({s.sha256 for s in manifest.segments})
    assert meta["character_frames"] == {"MEWTWO": manifest.frames}  # DuckDB over the segments
    assert sum(meta["stage_frames"].values()) == manifest.frames
    assert meta["windows"]["60"]["train"] > meta["windows"]["90"]["train"] > 0
    assert meta["embedding_version"] == manifest.embedding_version
    assert meta["bytes_per_frame"] == manifest.bytes_per_frame
    assert "train_character" in meta["filters"]
    event = instance.get_latest_materialization_event(AssetKey("embedded_dataset"))
    assert event.asset_materialization.tags["dagster/data_version"] == manifest.dataset_id
    (check,) = result.get_asset_check_evaluations()
    assert check.passed and check.metadata["rows_checked"].value == manifest.frames


def test_check_fails_on_a_corrupted_label(data_root):
    instance = DagsterInstance.ephemeral()
    result = _run(data_root, instance, dual_port=True, max_files=3)
    path = Path(result.asset_materializations_for_node("embedded_dataset")[0].metadata["dataset_path"].value)
    labels = np.load(path / LABELS_FILE, mmap_mode="r+")
    labels[0, 9] = 17  # stick classes are 0-16
    labels.flush()
    del labels
    report = validate_dataset(path)
    assert not report.passed and report.problems == ["1 rows with stick class > 16"]
    # The same config reuses the (now corrupted) build, and the asset check reports it.
    again = _run(data_root, instance, dual_port=True, max_files=3)
    (check,) = again.get_asset_check_evaluations()
    assert not check.passed and "stick class > 16" in check.metadata["problems"].value
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["config"]["max_files"] == 3


def test_config_maps_onto_the_dataset_config():
    cfg = DatasetAssetConfig(stages=["fd", "bf"], frame_delay=4).to_dataset_config()
    assert cfg.stages == ("fd", "bf") and cfg.frame_delay == 4 and cfg.player_port == 1
