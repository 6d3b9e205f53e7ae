"""`exphil ppo`: short mock runs end to end, and the one-line error without Dolphin."""

from __future__ import annotations

import json

import pytest
import torch
from tiny_policies import export_tiny, tiny_policy

from exphil_assets.cli.main import main
from exphil_assets.training.checkpoints import load_policy

TINY_RUN = ["--timesteps", "256", "--num-envs", "4", "--rollout-len", "32", "--num-minibatches", "2",
            "--update-epochs", "2", "--stocks", "1", "--max-game-seconds", "3", "--eval-games", "4",
            "--lr", "1e-3", "--value-warmup-updates", "0", "--device", "cpu", "--no-progress"]  # fmt: skip


@pytest.mark.parametrize("backbone", ["mlp", "gru"])
def test_mock_run_writes_a_loadable_fine_tuned_policy(backbone, tmp_path, capsys):
    base = tiny_policy(backbone)
    pretrained = export_tiny(base, tmp_path / "imitation", f"{backbone}_imitation_20260101T000000")
    models = tmp_path / "models"
    rc = main(["ppo", "--mock", "--pretrained", str(pretrained), "--models", str(models), *TINY_RUN])
    assert rc == 0
    out = capsys.readouterr().out
    assert "256 frames in 2 updates" in out and "win rate vs bot:approach:0.5" in out and "on cpu" in out
    (policy_file,) = models.glob(f"{backbone}_ppo_*_policy.safetensors")
    stem = policy_file.name.removesuffix("_policy.safetensors")
    assert (models / f"{stem}.pt").is_file() and (models / f"{stem}_policy.json").is_file()
    tuned, meta = load_policy(policy_file)
    assert meta["backbone"] == backbone and meta["kind"] == "ppo" and meta["pretrained"] == str(pretrained)
    changed = [k for k, v in tuned.state_dict().items() if not torch.equal(v, base.state_dict()[k])]
    assert changed, "PPO updates should have moved the weights"
    doc = json.loads((models / f"{stem}_config.json").read_text())
    results = doc["results"]
    assert doc["status"] == "completed" and results["timesteps"] == 256 and len(results["reward_curve"]) == 2
    assert 0.0 <= results["win_rate_before"] <= 1.0 and 0.0 <= results["win_rate_after"] <= 1.0
    assert results["kl_to_teacher"] >= 0.0
    assert doc["ppo"]["device"] == "cpu" and results["device"] == "cpu"
    full = torch.load(models / f"{stem}.pt", weights_only=True)
    assert "value_head.0.weight" in full["model"] and full["optimizer"]["state"]


def test_value_warmup_trains_the_critic_and_leaves_the_actor_untouched(tmp_path):
    base = tiny_policy("lstm")
    pretrained = export_tiny(base, tmp_path, "lstm_imitation_x")
    models = tmp_path / "models"
    rc = main(["ppo", "--mock", "--pretrained", str(pretrained), "--models", str(models), *TINY_RUN,
               "--value-warmup-updates", "5", "--eval-games", "0"])  # fmt: skip
    assert rc == 0
    (policy_file,) = models.glob("lstm_ppo_*_policy.safetensors")
    tuned, _ = load_policy(policy_file)
    for k, v in tuned.state_dict().items():
        assert torch.equal(v, base.state_dict()[k]), k
    full = torch.load(next(models.glob("lstm_ppo_*.pt")), weights_only=True)
    assert full["model"]["value_head.2.weight"].abs().sum() > 0  # the critic moved off its zero init


def test_without_mock_or_dolphin_the_error_names_what_is_missing(tmp_path, capsys):
    pretrained = export_tiny(tiny_policy("mlp"), tmp_path, "mlp_imitation_x")
    rc = main(["ppo", "--pretrained", str(pretrained), "--models", str(tmp_path / "m")])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert err.count("\n") == 0 and "--dolphin PATH" in err and "--iso PATH" in err
    assert not (tmp_path / "m").exists()


def test_a_missing_iso_is_named(tmp_path, capsys):
    rc = main(["ppo", "--pretrained", "x", "--dolphin", str(tmp_path), "--iso", str(tmp_path / "melee.iso")])
    assert rc == 2
    assert f"Melee ISO not found at {tmp_path / 'melee.iso'} (--iso)" in capsys.readouterr().err


def test_a_missing_pretrained_policy_is_a_one_line_error(tmp_path, capsys):
    rc = main(["ppo", "--mock", "--pretrained", str(tmp_path / "nope_policy.json"), "--models", str(tmp_path)])
    assert rc == 2
    assert "nope_policy.json" in capsys.readouterr().err


def test_wandb_logs_offline_without_a_key(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    pretrained = export_tiny(tiny_policy("mlp"), tmp_path, "mlp_imitation_x")
    models = tmp_path / "models"
    rc = main(["ppo", "--mock", "--pretrained", str(pretrained), "--models", str(models), "--wandb",
               *TINY_RUN[:-5], "--eval-games", "0", "--no-progress"])  # fmt: skip
    assert rc == 0
    assert list((models / "wandb").glob("offline-run-*"))
