"""Lineage of a policy: which replays and which config produced it.

A policy's `_config.json` names its dataset id; the dataset manifest lists the
learner-replays (sha256, port, split); the catalog maps each sha256 to its path
and replay batch. A PPO policy names the imitation policy it started from, so
the chain is followed back to the replays.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from exphil_assets.errors import UserError
from exphil_assets.features.dataset import load_dataset
from exphil_assets.paths import DataPaths
from exphil_assets.replays.catalog import read_catalog
from exphil_assets.training.checkpoints import policy_files


@dataclass
class ReplayLineage:
    sha256: str
    path: str
    batch: str | None
    learner_port: int
    split: str
    frames: int


@dataclass
class PolicyLineage:
    policy: str
    run_config: str
    config_hash: str | None
    training: dict[str, Any]
    dataset_id: str | None
    dataset_path: str | None
    replay_manifest_hash: str | None
    replays: list[ReplayLineage] = field(default_factory=list)
    parent: PolicyLineage | None = None  # the imitation policy a PPO policy started from

    def to_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "run_config": self.run_config,
            "config_hash": self.config_hash,
            "training": self.training,
            "dataset_id": self.dataset_id,
            "dataset_path": self.dataset_path,
            "replay_manifest_hash": self.replay_manifest_hash,
            "replays": [r.__dict__ for r in self.replays],
            "parent": self.parent.to_dict() if self.parent else None,
        }


def run_config_path(policy: str | Path) -> Path:
    """`{stem}_config.json` of a policy given by any of its files or its stem."""
    _, meta = policy_files(policy)
    stem = meta.name.removesuffix(".json").removesuffix("_policy").removesuffix("_best")
    return meta.parent / f"{stem}_config.json"


def policy_lineage(policy: str | Path, data_root: Path | None = None) -> PolicyLineage:
    """Follow a policy back to its config, dataset and replay files."""
    config_path = run_config_path(policy)
    if not config_path.is_file():
        raise UserError(f"no run config beside the policy: {config_path} does not exist")
    run = json.loads(config_path.read_text())
    provenance = run.get("provenance") or {}
    training = run.get("training") or {}
    lineage = PolicyLineage(
        policy=str(policy),
        run_config=str(config_path),
        config_hash=training.get("config_hash") or run.get("run", {}).get("config_hash"),
        training=training,
        dataset_id=provenance.get("dataset_id"),
        dataset_path=provenance.get("dataset_path"),
        replay_manifest_hash=provenance.get("replay_manifest_hash"),
    )
    pretrained = provenance.get("pretrained") or training.get("pretrained")
    if pretrained:
        lineage.parent = policy_lineage(pretrained, data_root)
    if lineage.dataset_path:
        lineage.replays = _dataset_replays(Path(lineage.dataset_path), data_root)
    return lineage


def _dataset_replays(dataset_path: Path, data_root: Path | None) -> list[ReplayLineage]:
    if not dataset_path.is_dir():
        raise UserError(f"the policy's dataset is gone: {dataset_path} does not exist")
    manifest = load_dataset(dataset_path)
    root = data_root or dataset_path.parent.parent  # data/datasets/{id}
    batches: dict[str, str | None] = {}
    if DataPaths(root).catalog.exists():
        catalog = read_catalog(root).filter(pl.col("status") == "ok")
        batches = dict(zip(catalog["sha256"].to_list(), catalog["batch"].to_list(), strict=True))
    return [
        ReplayLineage(
            sha256=s.sha256,
            path=s.path,
            batch=batches.get(s.sha256),
            learner_port=s.ego_port,
            split=s.split,
            frames=s.length,
        )
        for s in manifest.segments
    ]


def format_lineage(lineage: PolicyLineage) -> str:
    """Readable report: the config, then one line per replay."""
    lines = [
        f"policy          {lineage.policy}",
        f"run config      {lineage.run_config}",
        f"config hash     {lineage.config_hash}",
        f"dataset         {lineage.dataset_id}  ({lineage.dataset_path})",
        f"replay manifest {lineage.replay_manifest_hash}",
    ]
    keys = ("backbone", "preset", "epochs", "batch_size", "hidden", "lr", "lr_schedule", "window_size", "seed")
    settings = ", ".join(f"{k}={lineage.training[k]}" for k in keys if k in lineage.training)
    if settings:
        lines.append(f"settings        {settings}")
    if lineage.replays:
        lines.append(f"replays ({len(lineage.replays)} learner-replays):")
        lines += [
            f"  {r.split:5s} port {r.learner_port}  {r.frames:7d} frames  batch {r.batch or '-':26s} {r.path}"
            for r in lineage.replays
        ]
    if lineage.parent:
        lines.append("fine-tuned from:")
        lines += ["  " + line for line in format_lineage(lineage.parent).splitlines()]
    return "\n".join(lines)
