"""The layout of a data root, in one place.

The root comes from `--data DIR`, else `$EXPHIL_DATA`, else `./data`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DATA_ENV_VAR = "EXPHIL_DATA"
MODELS_ENV_VAR = "EXPHIL_MODELS"


def resolve_data_root(cli_value: str | os.PathLike | None = None) -> Path:
    """`--data` wins, then `$EXPHIL_DATA`, then `./data`."""
    if cli_value:
        return Path(cli_value).expanduser().resolve()
    env = os.environ.get(DATA_ENV_VAR)
    if env:
        return Path(env).expanduser().resolve()
    return Path("data").resolve()


def resolve_models_dir(cli_value: str | os.PathLike | None = None) -> Path:
    """`--models` wins, then `$EXPHIL_MODELS`, then `./models`."""
    if cli_value:
        return Path(cli_value).expanduser().resolve()
    env = os.environ.get(MODELS_ENV_VAR)
    if env:
        return Path(env).expanduser().resolve()
    return Path("models").resolve()


@dataclass(frozen=True)
class DataPaths:
    """Where each artefact of a data root lives."""

    root: Path

    @property
    def frames_dir(self) -> Path:
        return self.root / "frames"

    def frame_table(self, sha256: str) -> Path:
        return self.frames_dir / f"{sha256}.parquet"

    @property
    def catalog(self) -> Path:
        return self.root / "catalog.parquet"

    @property
    def duckdb(self) -> Path:
        return self.root / "exphil.duckdb"

    @property
    def datasets_dir(self) -> Path:
        return self.root / "datasets"

    def dataset(self, dataset_id: str) -> Path:
        return self.datasets_dir / dataset_id

    @property
    def ingest_lock(self) -> Path:
        return self.root / ".ingest.lock"

    @property
    def batches_dir(self) -> Path:
        return self.root / "batches"

    def batch_manifest(self, key: str) -> Path:
        return self.batches_dir / f"{key}.json"
