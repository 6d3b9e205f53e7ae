"""Dagster face of the embedded dataset: the `embedded_dataset` asset and its check.

The work is in exphil_assets.features (build_dataset, validate_dataset); this module maps
run config to a DatasetConfig and the manifest to metadata. The data version is the
dataset id (a hash of the config, the ingested replays and the embedding version), so
an unchanged dataset does not make downstream assets stale.
"""

from pathlib import Path

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetExecutionContext,
    AssetKey,
    Config,
    DataVersion,
    MaterializeResult,
    MetadataValue,
    asset,
    asset_check,
)
from pydantic import Field

from exphil_assets.defs.groups import ASSET_GROUP
from exphil_assets.defs.resources import ExphilStorage
from exphil_assets.features.dataset import SEGMENTS_FILE, DatasetConfig, DatasetManifest, build_dataset
from exphil_assets.features.validate import validate_dataset
from exphil_assets.features.windows import window_starts
from exphil_assets.replays.duckdb_views import connect

REPORTED_WINDOWS = (30, 60, 90)  # window sizes whose counts the metadata shows


class DatasetAssetConfig(Config):
    """Run config of the embedded dataset (the options of DatasetConfig)."""

    player_port: int = Field(default=1, description="controller port (1-4) of the learner")
    train_character: str | None = Field(
        default=None, description="learn from the port playing this character"
    )
    dual_port: bool = Field(default=False, description="learn from both players")
    both_human: bool = Field(default=False, description="only replays where both players are human")
    human_learners_only: bool = Field(default=True, description="never learn from a CPU")
    min_frames: int = Field(default=0, description="skip replays with fewer playable frames")
    characters: list[str] = Field(
        default_factory=list, description="only replays with one of these characters"
    )
    stages: list[str] = Field(default_factory=list, description="only replays on these stages")
    max_files: int | None = Field(default=None, description="first N replays by path after filtering")
    frame_delay: int = Field(default=0, description="pair state t-D with the label of t")
    val_split: float = Field(default=0.0, description="fraction of replay files held out, by hash")
    with_prev_action: bool = Field(default=False, description="add the previous action to the features")
    seed: int = Field(default=0, description="salt of the validation split")

    def to_dataset_config(self) -> DatasetConfig:
        return DatasetConfig(
            **{**self.model_dump(), "characters": tuple(self.characters), "stages": tuple(self.stages)}
        )


def _distribution(
    data_root: Path, manifest: DatasetManifest, id_column: str, names_table: str
) -> dict[str, int]:
    """Frames per character or stage of the dataset, by a DuckDB query over its segments."""
    segments = str(manifest.path / SEGMENTS_FILE).replace("'", "''")
    con = connect(data_root)
    try:
        rows = con.execute(
            f"""SELECT coalesce(n.name, 'ID_' || s.{id_column}) AS name, sum(s.length) AS frames
                FROM read_parquet('{segments}') s LEFT JOIN {names_table} n ON n.id = s.{id_column}
                GROUP BY ALL ORDER BY frames DESC, name"""
        ).fetchall()
    finally:
        con.close()
    return {name: int(frames) for name, frames in rows}


def _window_counts(manifest: DatasetManifest) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {}
    for window in REPORTED_WINDOWS:
        counts[str(window)] = {
            split: len(window_starts([s.length for s in manifest.segments if s.split == split], window))
            for split in ("train", "val")
        }
    return counts


def dataset_metadata(data_root: Path, manifest: DatasetManifest) -> dict:
    reports = "\n".join(
        ["| filter | files removed | frames removed | detail |", "|---|---|---|---|"]
        + [
            f"| {r.name} | {r.files_removed} | {r.frames_removed} | {r.detail} |"
            for r in manifest.filter_reports
        ]
    )
    return {
        "dataset_id": manifest.dataset_id,
        "dataset_path": MetadataValue.path(str(manifest.path)),
        "frames": manifest.frames,
        "train_frames": manifest.split_frames["train"],
        "val_frames": manifest.split_frames["val"],
        "train_files": manifest.split_files["train"],
        "val_files": manifest.split_files["val"],
        "learner_replays": manifest.learner_replays,
        "windows": MetadataValue.json(_window_counts(manifest)),
        "character_frames": MetadataValue.json(
            _distribution(data_root, manifest, "ego_character", "character_names")
        ),
        "stage_frames": MetadataValue.json(_distribution(data_root, manifest, "stage", "stage_names")),
        "bytes_per_frame": manifest.bytes_per_frame,
        "float_dim": manifest.feature_spec.float_dim,
        "embedding_version": manifest.embedding_version,
        "replays_in_catalog": len(manifest.catalog_hashes),
        "filters": MetadataValue.md(reports),
        "config": MetadataValue.json(manifest.config.to_dict()),
    }


@asset(
    name="embedded_dataset",
    group_name=ASSET_GROUP,
    deps=[AssetKey("replay_frames")],
    kinds={"numpy"},
    description=(
        "Features and labels of the selected replays (data/datasets/{id}/: float16 features, int16 ids, "
        "uint8 labels, memory-mappable), split into train/val by replay file."
    ),
)
def embedded_dataset(
    context: AssetExecutionContext, config: DatasetAssetConfig, storage: ExphilStorage
) -> MaterializeResult:
    data_root = storage.data_path()
    manifest = build_dataset(data_root, config.to_dataset_config())
    context.log.info(
        f"dataset {manifest.dataset_id}: {manifest.frames} frames, "
        f"{manifest.split_files['train']} train / {manifest.split_files['val']} val files"
    )
    return MaterializeResult(
        metadata=dataset_metadata(data_root, manifest), data_version=DataVersion(manifest.dataset_id)
    )


@asset_check(
    asset=embedded_dataset,
    description="Finite features, ids within vocabularies, labels in range (buttons 0/1, sticks 0-16, "
    "shoulder 0-4), and no replay file in both train and val.",
)
def embedded_dataset_valid(context: AssetCheckExecutionContext) -> AssetCheckResult:
    event = context.instance.get_latest_materialization_event(AssetKey("embedded_dataset"))
    if event is None or event.asset_materialization is None:
        return AssetCheckResult(passed=False, metadata={"problem": "embedded_dataset was never materialized"})
    path = event.asset_materialization.metadata["dataset_path"].value
    report = validate_dataset(path)
    metadata = {"rows_checked": report.rows_checked, "dataset_path": MetadataValue.path(str(path))}
    if report.problems:
        metadata["problems"] = MetadataValue.md("\n".join(f"- {p}" for p in report.problems))
    return AssetCheckResult(passed=report.passed, metadata=metadata)


dataset_assets = [embedded_dataset]
dataset_checks = [embedded_dataset_valid]
