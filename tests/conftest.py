"""Shared fixtures: the real replays in ../shared/replays and their manifest.

Tests that need the shared replays are skipped with a clear reason where the
folder is absent, except under CI (CI=true), where its absence is a failure.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

os.environ.setdefault("WANDB_MODE", "disabled")

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_REPLAYS = Path(os.environ.get("EXPHIL_SHARED_REPLAYS", REPO_ROOT.parent / "shared" / "replays"))


@dataclass(frozen=True)
class ManifestRow:
    """One line of ../shared/replays/MANIFEST.tsv."""

    file: str
    slippi_version: str
    frame_rows: int | None
    unique_frame_ids: int | None
    first_frame_id: int | None
    last_frame_id: int | None
    stage_id: int | None
    players: tuple[tuple[int, str, str], ...]  # (port, CHARACTER, TYPE)
    parses: bool
    failure: str

    @property
    def path(self) -> Path:
        return SHARED_REPLAYS / self.file


def _int_or_none(value: str) -> int | None:
    return None if value in ("-", "") else int(value)


def _read_manifest() -> list[ManifestRow]:
    rows = []
    with open(SHARED_REPLAYS / "MANIFEST.tsv", newline="") as fh:
        for rec in csv.DictReader(fh, delimiter="\t"):
            players = ()
            if rec["players(port:character:type)"] not in ("-", ""):
                players = tuple(
                    (int(p.split(":")[0][1:]), p.split(":")[1], p.split(":")[2])
                    for p in rec["players(port:character:type)"].split()
                )
            status = rec["peppi_py_0.8.6"]
            rows.append(
                ManifestRow(
                    file=rec["file"],
                    slippi_version=rec["slippi_version"],
                    frame_rows=_int_or_none(rec["frame_rows"]),
                    unique_frame_ids=_int_or_none(rec["unique_frame_ids"]),
                    first_frame_id=_int_or_none(rec["first_frame_id"]),
                    last_frame_id=_int_or_none(rec["last_frame_id"]),
                    stage_id=_int_or_none(rec["stage_id"]),
                    players=players,
                    parses=status == "ok",
                    failure="" if status == "ok" else status,
                )
            )
    return rows


@pytest.fixture(scope="session")
def shared_replays() -> Path:
    """The folder of real replays; skipped (never in CI) where it is absent."""
    if not (SHARED_REPLAYS / "MANIFEST.tsv").exists():
        if os.environ.get("CI"):
            pytest.fail(f"CI must have the shared replays at {SHARED_REPLAYS}")
        pytest.skip(f"shared replays not found at {SHARED_REPLAYS}")
    return SHARED_REPLAYS


@pytest.fixture(scope="session")
def manifest(shared_replays: Path) -> list[ManifestRow]:
    return _read_manifest()


@pytest.fixture(scope="session")
def ingested_shared_data(shared_replays: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data root holding all shared replays ingested once (45 ok, 5 quarantined). Read-only: do not write to it."""
    from exphil_assets.replays.ingest import ingest_replays

    data_root = tmp_path_factory.mktemp("ingested_shared_data")
    ingest_replays(shared_replays, data_root, workers=2, progress=False)
    return data_root
