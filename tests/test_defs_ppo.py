"""The ppo_policy asset: finds the backbone's imitation policy, fine-tunes it, records metadata."""

from __future__ import annotations

import os
import time

import pytest
from dagster import DagsterInstance, materialize
from tiny_policies import export_tiny, tiny_policy

from exphil_assets.defs.ppo import ppo_finetune, ppo_policy
from exphil_assets.defs.resources import ExphilStorage
from exphil_assets.errors import UserError
from exphil_assets.rl.ppo import latest_imitation_policy

TINY = {"timesteps": 128, "num_envs": 4, "rollout_len": 32, "num_minibatches": 2, "update_epochs": 1,
        "stocks": 1, "max_game_seconds": 2.0, "eval_games": 2}  # fmt: skip


def test_latest_imitation_policy_skips_ppo_runs_and_other_backbones(tmp_path):
    old = export_tiny(tiny_policy("mlp"), tmp_path, "mlp_imitation_20260101T000000")
    new = export_tiny(tiny_policy("mlp"), tmp_path, "mlp_imitation_20260102T000000")
    export_tiny(tiny_policy("gru"), tmp_path, "gru_imitation_20260103T000000")
    os.utime(old.with_suffix(".json"), (time.time() - 100, time.time() - 100))
    assert latest_imitation_policy(tmp_path, "mlp") == new.with_suffix(".json")
    with pytest.raises(UserError, match="no exported lstm imitation policy"):
        latest_imitation_policy(tmp_path, "lstm")


def test_ppo_policy_materializes_for_a_backbone_partition(tmp_path):
    models = tmp_path / "models"
    pretrained = export_tiny(tiny_policy("mlp"), models, "mlp_imitation_20260101T000000")
    result = materialize(
        [ppo_policy], partition_key="mlp", instance=DagsterInstance.ephemeral(),
        resources={"storage": ExphilStorage(models_dir=str(models))},
        run_config={"ops": {"ppo_policy": {"config": TINY}}},
    )  # fmt: skip
    assert result.success
    (mat,) = result.asset_materializations_for_node("ppo_policy")
    meta = mat.metadata
    assert meta["timesteps"].value == 128 and meta["pretrained_path"].value == str(pretrained.with_suffix(".json"))
    assert 0.0 <= meta["win_rate_before"].value <= 1.0 and 0.0 <= meta["win_rate_after"].value <= 1.0
    assert meta["kl_to_teacher"].value >= 0.0
    assert "data:image/png;base64," in meta["reward_curve"].value
    assert os.path.isfile(meta["policy_path"].value) and "mlp_ppo_" in meta["policy_path"].value


def test_without_an_imitation_policy_the_asset_fails_with_the_reason(tmp_path):
    result = materialize(
        [ppo_policy], partition_key="gru", instance=DagsterInstance.ephemeral(),
        resources={"storage": ExphilStorage(models_dir=str(tmp_path))},
        run_config={"ops": {"ppo_policy": {"config": TINY}}}, raise_on_error=False,
    )  # fmt: skip
    assert not result.success
    assert "no exported gru imitation policy" in str(result.all_events)


def test_the_job_targets_the_asset_by_backbone_partition():
    from exphil_assets.definitions import defs

    job = defs.resolve_job_def(ppo_finetune.name)
    assert job.partitions_def is not None and "mamba" in job.partitions_def.get_partition_keys()
    assert job.asset_layer.executable_asset_keys == {ppo_policy.key}
