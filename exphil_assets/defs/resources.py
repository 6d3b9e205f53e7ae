"""Where assets read and write: one resource, chosen by environment.

Local runs use ./data, ./models and ./reports (or $EXPHIL_DATA / $EXPHIL_MODELS);
CI points them at a temporary folder through the same variables.
"""

from __future__ import annotations

import os
from pathlib import Path

from dagster import ConfigurableResource

from exphil_assets.paths import DataPaths, resolve_data_root, resolve_models_dir


class ExphilStorage(ConfigurableResource):
    """Data root, replay folder, models folder and reports folder of this deployment."""

    data_root: str = ""
    replays_dir: str = ""
    models_dir: str = ""
    reports_dir: str = ""

    def data_path(self) -> Path:
        return resolve_data_root(self.data_root or None)

    def paths(self) -> DataPaths:
        return DataPaths(self.data_path())

    def replays_path(self) -> Path:
        value = self.replays_dir or os.environ.get("EXPHIL_REPLAYS", "replays")
        return Path(value).expanduser().resolve()

    def models_path(self) -> Path:
        return resolve_models_dir(self.models_dir or None)

    def reports_path(self) -> Path:
        value = self.reports_dir or os.environ.get("EXPHIL_REPORTS", "reports")
        return Path(value).expanduser().resolve()
