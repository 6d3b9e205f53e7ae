"""The Dagster code location: every asset, check, job, sensor, schedule and resource.

Each step of the flow adds its definitions here with a small edit.
"""

from dagster import Definitions

from exphil_assets.defs.automation import (
    build_dataset_job,
    build_retraining,
    ingest_job,
    new_replays_sensor,
    retrain_after_ingest,
)
from exphil_assets.defs.dataset import dataset_assets, dataset_checks
from exphil_assets.defs.evaluation import evaluation_assets, evaluation_jobs
from exphil_assets.defs.executors import executor_from_env
from exphil_assets.defs.ingestion import ingestion_assets, ingestion_checks
from exphil_assets.defs.ppo import ppo_assets, ppo_jobs
from exphil_assets.defs.resources import ExphilStorage
from exphil_assets.defs.training import train_standard, training_assets, training_checks, training_jobs

retrain_after_dataset, nightly_retraining = build_retraining(train_standard)

defs = Definitions(
    assets=[*ingestion_assets, *dataset_assets, *training_assets, *ppo_assets, *evaluation_assets],
    asset_checks=[*ingestion_checks, *dataset_checks, *training_checks],
    jobs=[ingest_job, build_dataset_job, *training_jobs, *ppo_jobs, *evaluation_jobs],
    sensors=[new_replays_sensor, retrain_after_ingest, retrain_after_dataset],
    schedules=[nightly_retraining],
    resources={"storage": ExphilStorage()},
    executor=executor_from_env(),
)
