"""The imitation_policy asset, its blocking check and the preset jobs."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import torch
import yaml
from dagster import AssetKey, AssetRecordsFilter, DagsterInstance, materialize
from safetensors.torch import load_file, save_file

from exphil_assets.cli.main import main
from exphil_assets.defs.partitions import backbone_partitions
from exphil_assets.defs.resources import ExphilStorage
from exphil_assets.defs.training import (
    NOT_RUN_CONFIG,
    ImitationPolicyConfig,
    imitation_policy,
    imitation_policy_loads,
    policy_problems,
    train_config_from_run_config,
    training_jobs,
)
from exphil_assets.nets.registry import BACKBONES
from exphil_assets.replays.ingest import ingest_replays
from exphil_assets.training.config import config_fields, resolve_config
from exphil_assets.training.presets import PRESETS, PRESETS_DIR

TINY = {"preset": "quick", "hidden": [8], "max_files": 2, "val_split": 0.3, "precision": "f32", "threads": 1}


@pytest.fixture(scope="module")
def data_root(shared_replays, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("defs_training_data")
    ingest_replays(shared_replays, root, workers=2, progress=False)
    return root


@pytest.fixture(scope="module")
def materialized(data_root, tmp_path_factory):
    models = tmp_path_factory.mktemp("defs_training_models")
    instance = DagsterInstance.ephemeral()
    result = materialize(
        [imitation_policy, imitation_policy_loads],
        instance=instance,
        partition_key="mlp",
        run_config={"ops": {"imitation_policy": {"config": TINY}}},
        resources={"storage": ExphilStorage(data_root=str(data_root), models_dir=str(models))},
    )
    return result, instance


def test_asset_is_partitioned_by_backbone_and_depends_on_the_dataset():
    assert imitation_policy.partitions_def == backbone_partitions
    assert backbone_partitions.get_partition_keys() == list(BACKBONES)
    spec = imitation_policy.specs_by_key[AssetKey("imitation_policy")]
    assert spec.group_name == "melee_pipeline"
    assert AssetKey("embedded_dataset") in {dep.asset_key for dep in spec.deps}


def test_run_config_mirrors_every_train_config_option():
    expected = set(config_fields()) - NOT_RUN_CONFIG | {"preset", "progress"}
    assert set(ImitationPolicyConfig.model_fields) == expected


def test_partition_key_picks_the_backbone_over_the_preset(tmp_path):
    storage = ExphilStorage(models_dir=str(tmp_path))
    cfg = train_config_from_run_config(ImitationPolicyConfig(preset="full"), "lstm", storage)
    assert (cfg.resolved_backbone, cfg.temporal, cfg.epochs, cfg.ema_decay) == ("lstm", True, 50, 0.999)
    cfg = train_config_from_run_config(ImitationPolicyConfig(preset="full", epochs=2), "mlp", storage)
    assert (cfg.resolved_backbone, cfg.temporal, cfg.epochs) == ("mlp", False, 2)


def test_one_job_per_preset_carries_its_yaml_run_config():
    jobs = {job.name: job for job in training_jobs}
    assert set(jobs) == {f"train_{name}" for name in PRESETS}
    for name in PRESETS:
        run_config = yaml.safe_load((PRESETS_DIR / f"{name}.yaml").read_text())
        assert jobs[f"train_{name}"].config == run_config
        backbone = PRESETS[name]["backbone"]
        config = ImitationPolicyConfig(**run_config["ops"]["imitation_policy"]["config"])
        assert train_config_from_run_config(config, backbone, ExphilStorage()) == resolve_config(
            name, {"models_dir": str(ExphilStorage().models_path())}
        )


def test_materialization_reports_results_and_passes_its_check(materialized):
    result, _ = materialized
    assert result.success
    (event,) = result.asset_materializations_for_node("imitation_policy")
    meta = {k: v.value for k, v in event.metadata.items()}
    assert meta["backbone"] == "mlp" and meta["epochs_run"] == 1 and meta["params"] > 0
    assert meta["final_val_loss"] == meta["best_val_loss"] > 0
    assert set(meta["head_accuracy"]) == {"buttons", "main_x", "main_y", "c_x", "c_y", "shoulder"}
    assert len(meta["config_hash"]) == 16 and meta["dataset_id"]
    for key in ("checkpoint_path", "policy_path", "policy_meta_path", "config_path"):
        assert Path(meta[key]).is_file(), key
    png = base64.b64decode(meta["loss_curve"].split("base64,")[1].rstrip(")"))
    assert png.startswith(b"\x89PNG")
    doc = json.loads(Path(meta["config_path"]).read_text())
    assert doc["provenance"]["dataset_id"] == meta["dataset_id"]
    (check,) = result.get_asset_check_evaluations()
    assert check.passed and check.partition == "mlp"


def test_check_fails_on_non_finite_weights(materialized, tmp_path):
    result, _ = materialized
    (event,) = result.asset_materializations_for_node("imitation_policy")
    weights = Path(event.metadata["policy_path"].value)
    broken = tmp_path / weights.name
    tensors = load_file(str(weights))
    first = next(k for k, v in tensors.items() if v.is_floating_point())
    tensors[first] = torch.full_like(tensors[first], float("nan"))
    save_file(tensors, str(broken))
    (tmp_path / weights.name.replace(".safetensors", ".json")).write_text(
        weights.with_suffix(".json").read_text()
    )
    assert policy_problems(weights) == []
    problems = policy_problems(broken)
    assert any(first in p and "not finite" in p for p in problems)


def test_cli_materializes_in_the_dagster_home_instance(data_root, tmp_path, monkeypatch, capsys):
    home = tmp_path / "dagster_home"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    code = main(["train", "--preset", "quick", "--data", str(data_root), "--models-dir", str(tmp_path / "models"),
                 "--hidden", "8", "--max-files", "2", "--precision", "f32", "--threads", "1", "--no-progress",
                 "--json"])  # fmt: skip
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["dagster_run_id"] and Path(summary["files"]["policy"]).is_file()
    with DagsterInstance.get() as instance:
        records = instance.fetch_materializations(
            AssetRecordsFilter(asset_key=AssetKey("imitation_policy"), asset_partitions=["mlp"]), limit=5
        ).records
        assert [r.run_id for r in records] == [summary["dagster_run_id"]]
