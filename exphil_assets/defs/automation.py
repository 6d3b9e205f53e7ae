"""Retraining automation: a sensor for new replays, run-status chaining, a nightly schedule.

All of them are off by default (`DefaultSensorStatus.STOPPED`); the README says how
to turn them on. The backbones to retrain come from `$EXPHIL_RETRAIN_BACKBONES`
(comma-separated, default `mlp`).

Flow when a replay lands:
  new_replays_sensor  -> ingest run for a new replay-batch partition
  ingest succeeded    -> build_dataset run                (retrain_after_ingest)
  dataset succeeded   -> train_standard run per backbone  (retrain_after_dataset)
"""

from __future__ import annotations

import os

from dagster import (
    AssetSelection,
    DagsterRunStatus,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    RunRequest,
    ScheduleEvaluationContext,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    define_asset_job,
    run_status_sensor,
    schedule,
    sensor,
)

from exphil_assets.defs.partitions import replay_batch_partitions
from exphil_assets.defs.resources import ExphilStorage
from exphil_assets.nets.registry import BACKBONES
from exphil_assets.replays.batches import register_batch
from exphil_assets.replays.folder_scan import ScanCursor, scan_new_replays

RETRAIN_PRESET = "standard"

ingest_job = define_asset_job(
    "ingest",
    selection=AssetSelection.assets("replay_frames"),
    description="Ingest one batch of replay files into frame tables and the catalog.",
)

build_dataset_job = define_asset_job(
    "build_dataset",
    selection=AssetSelection.assets("embedded_dataset"),
    description="Rebuild the embedded window dataset from the catalog.",
)


def retrain_backbones() -> list[str]:
    """Backbones that automation retrains, from $EXPHIL_RETRAIN_BACKBONES."""
    raw = os.environ.get("EXPHIL_RETRAIN_BACKBONES", "mlp")
    names = [b.strip() for b in raw.split(",") if b.strip()]
    unknown = [b for b in names if b not in BACKBONES]
    if unknown:
        raise ValueError(
            f"EXPHIL_RETRAIN_BACKBONES names unknown backbones {unknown}; valid: {', '.join(BACKBONES)}"
        )
    return names


@sensor(
    name="new_replays_sensor",
    target=ingest_job,
    minimum_interval_seconds=30,
    default_status=DefaultSensorStatus.STOPPED,
    description="Lists the replay folder (names and mtimes only) and ingests new files as a batch.",
)
def new_replays_sensor(context: SensorEvaluationContext, storage: ExphilStorage):
    folder = storage.replays_path()
    if not folder.is_dir():
        return SkipReason(f"replay folder {folder} does not exist")
    cursor = ScanCursor.from_json(context.cursor)
    min_age = float(os.environ.get("EXPHIL_REPLAY_MIN_AGE_S", "5"))
    new_files, next_cursor = scan_new_replays(folder, cursor, min_age_s=min_age)
    if not new_files:
        return SkipReason(f"no new replays in {folder}")
    batch_key = register_batch(storage.data_path(), new_files)
    context.log.info(f"{len(new_files)} new replay(s) in {folder}: batch {batch_key}")
    return SensorResult(
        run_requests=[RunRequest(run_key=batch_key, partition_key=batch_key)],
        dynamic_partitions_requests=[replay_batch_partitions.build_add_request([batch_key])],
        cursor=next_cursor.to_json(),
    )


@run_status_sensor(
    name="retrain_after_ingest",
    run_status=DagsterRunStatus.SUCCESS,
    monitored_jobs=[ingest_job],
    request_job=build_dataset_job,
    default_status=DefaultSensorStatus.STOPPED,
    description="Once an ingest run succeeds, rebuild the embedded dataset.",
)
def retrain_after_ingest(context):
    return RunRequest(run_key=f"dataset-after-{context.dagster_run.run_id}")


def _train_requests(run_key_prefix: str) -> list[RunRequest]:
    return [
        RunRequest(run_key=f"{run_key_prefix}-{backbone}", partition_key=backbone)
        for backbone in retrain_backbones()
    ]


def build_retraining(train_job):
    """The run-status sensor and the nightly schedule that run `train_job` per backbone."""

    @run_status_sensor(
        name="retrain_after_dataset",
        run_status=DagsterRunStatus.SUCCESS,
        monitored_jobs=[build_dataset_job],
        request_job=train_job,
        default_status=DefaultSensorStatus.STOPPED,
        description="Once the dataset is rebuilt, retrain the configured backbones with the standard preset.",
    )
    def retrain_after_dataset(context):
        return _train_requests(f"train-after-{context.dagster_run.run_id}")

    @schedule(
        name="nightly_retraining",
        cron_schedule=os.environ.get("EXPHIL_RETRAIN_CRON", "0 3 * * *"),
        target=train_job,
        default_status=DefaultScheduleStatus.STOPPED,
        description="Nightly: retrain the configured backbones with the standard preset.",
    )
    def nightly_retraining(context: ScheduleEvaluationContext):
        when = context.scheduled_execution_time
        return _train_requests(f"nightly-{when:%Y%m%dT%H%M}")

    return retrain_after_dataset, nightly_retraining

