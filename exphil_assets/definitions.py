"""The Dagster code location: every asset, check, job, sensor, schedule and resource.

Each step of the flow adds its definitions here with a small edit.
"""

from dagster import Definitions

from exphil_assets.defs.dataset import dataset_assets, dataset_checks
from exphil_assets.defs.evaluation import evaluation_assets, evaluation_jobs
from exphil_assets.defs.ingestion import ingestion_assets, ingestion_checks
from exphil_assets.defs.ppo import ppo_assets, ppo_jobs
from exphil_assets.defs.resources import ExphilStorage
from exphil_assets.defs.training import training_assets, training_checks, training_jobs

defs = Definitions(
    assets=[*ingestion_assets, *dataset_assets, *training_assets, *ppo_assets, *evaluation_assets],
    asset_checks=[*ingestion_checks, *dataset_checks, *training_checks],
    jobs=[*training_jobs, *ppo_jobs, *evaluation_jobs],
    resources={"storage": ExphilStorage()},
)
