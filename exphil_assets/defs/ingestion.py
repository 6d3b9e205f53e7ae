"""Dagster face of replay ingestion: the `replay_frames` asset, one partition per replay batch.

The work is in exphil_assets.replays; this module only maps a partition key to
its batch manifest (data/batches/{key}.json, written by `register_batch`) and
turns the IngestSummary into materialization metadata.
"""

import warnings

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetExecutionContext,
    Config,
    MaterializeResult,
    MetadataValue,
    PreviewWarning,
    asset,
    asset_check,
)
from pydantic import Field

from exphil_assets.defs.groups import ASSET_GROUP
from exphil_assets.defs.partitions import replay_batch_partitions
from exphil_assets.defs.resources import ExphilStorage
from exphil_assets.replays.batches import read_batch
from exphil_assets.replays.ingest import IngestSummary, ingest_replays
from exphil_assets.replays.validate import check_frame_tables

MAX_TABLE_ROWS = 200  # keep markdown metadata small on huge batches


class IngestConfig(Config):
    """Run config of one ingest (the data root and replay folder come from the `storage` resource)."""

    workers: int = Field(default=1, description="parser processes")
    rollback: str = Field(default="first", description="netplay rollback frames: keep 'first' or 'last'")


def _markdown_table(headers: list[str], rows: list[list[str]]) -> str:
    def cell(value: str) -> str:
        return value.replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows[:MAX_TABLE_ROWS]]
    if len(rows) > MAX_TABLE_ROWS:
        lines.append(f"\n… and {len(rows) - MAX_TABLE_ROWS} more")
    return "\n".join(lines)


def ingest_metadata(summary: IngestSummary, batch_files: int) -> dict:
    """MaterializeResult metadata for one ingest run."""
    quarantined = (
        _markdown_table(["file", "error class", "error"], [list(q) for q in summary.quarantined_files])
        if summary.quarantined_files
        else "none"
    )
    return {
        "batch_files": batch_files,
        "files_ok": summary.ok,
        "files_quarantined": summary.quarantined,
        "files_duplicate": summary.duplicates,
        "files_skipped": summary.skipped,
        "frames": summary.frames,
        "seconds": summary.seconds,
        "catalog_path": MetadataValue.path(summary.catalog),
        "quarantined_files": MetadataValue.md(quarantined),
    }


@asset(
    name="replay_frames",
    group_name=ASSET_GROUP,
    partitions_def=replay_batch_partitions,
    kinds={"parquet", "duckdb"},
    description=(
        "Frame tables (data/frames/{sha256}.parquet) and catalog rows for the replay files of one batch. "
        "Corrupt files are quarantined in the catalog; files already ingested are skipped."
    ),
)
def replay_frames(
    context: AssetExecutionContext, config: IngestConfig, storage: ExphilStorage
) -> MaterializeResult:
    data_root = storage.data_path()
    files = read_batch(data_root, context.partition_key)
    summary = ingest_replays(
        files,
        data_root,
        workers=config.workers,
        rollback=config.rollback,
        batch=context.partition_key,
        progress=False,
    )
    context.log.info(
        f"batch {context.partition_key}: {summary.ok} ok, {summary.quarantined} quarantined, "
        f"{summary.duplicates} duplicate, {summary.skipped} skipped, {summary.frames} frames"
    )
    return MaterializeResult(metadata=ingest_metadata(summary, len(files)))


def replay_frames_valid(context: AssetCheckExecutionContext, storage: ExphilStorage) -> AssetCheckResult:
    data_root = storage.data_path()
    report = check_frame_tables(data_root, read_batch(data_root, context.partition_key))
    metadata = {"tables_checked": report.checked, "frames_checked": report.frames}
    if report.problems:
        metadata["problems"] = MetadataValue.md(_markdown_table(["frame table", "problem"], report.problems))
    return AssetCheckResult(passed=report.passed, metadata=metadata)


# Partitioned checks are a Dagster "preview" feature; the check must run per batch, so we use it.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", category=PreviewWarning)
    replay_frames_valid = asset_check(
        asset=replay_frames,
        partitions_def=replay_batch_partitions,
        description="Frame tables of the batch: current schema version, unique increasing frame ids, finite positions.",
    )(replay_frames_valid)


ingestion_assets = [replay_frames]
ingestion_checks = [replay_frames_valid]
