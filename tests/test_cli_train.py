"""`exphil train`: flags, precedence, the quick preset end to end on real replays, Ctrl-C."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from exphil_assets.cli.main import build_parser, main
from exphil_assets.cli.train_cmd import explicit_overrides
from exphil_assets.replays.ingest import ingest_replays
from exphil_assets.training.checkpoints import load_checkpoint, load_policy
from exphil_assets.training.config import resolve_config
from exphil_assets.training.data import load_training_data


@pytest.fixture(scope="module")
def data_root(shared_replays, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("train_cli_data")
    ingest_replays(shared_replays, root, workers=2, progress=False)
    return root


def _overrides(argv: list[str]) -> dict:
    return explicit_overrides(build_parser().parse_args(["train", *argv]))


def test_unknown_flag_exits_non_zero_naming_it(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["train", "--preset", "quick", "--learning-rate", "3"])
    assert exited.value.code != 0
    assert "--learning-rate" in capsys.readouterr().err


def test_invalid_value_exits_non_zero_naming_the_option(capsys, tmp_path):
    assert main(["train", "--lr", "-0.1", "--data", str(tmp_path)]) == 2
    assert "'lr'" in capsys.readouterr().err
    assert main(["train", "--temporal", "--backbone", "transformer", "--data", str(tmp_path)]) == 2
    assert "backbone" in capsys.readouterr().err


def test_flags_not_given_do_not_override_the_preset():
    overrides = _overrides(["--epochs", "3", "--hidden", "16,16"])
    assert overrides == {"epochs": 3, "hidden": "16,16"}
    cfg = resolve_config("standard", overrides)
    assert (cfg.epochs, cfg.hidden, cfg.lr, cfg.max_files, cfg.save_best) == (3, (16, 16), 3e-4, 50, True)


def test_no_form_turns_off_what_a_preset_turns_on_and_none_clears_a_limit():
    cfg = resolve_config("standard", _overrides(["--no-save-best", "--no-early-stopping", "--max-files", "all"]))
    assert (cfg.save_best, cfg.early_stopping, cfg.max_files) == (False, False, None)


def test_quick_preset_trains_end_to_end_and_beats_the_majority_baseline(data_root, shared_replays, tmp_path, capsys):
    models = tmp_path / "models"
    # The preset as documented: 1 epoch at lr 1e-4, batch 32, hidden 32,32. The split is by
    # file hash: val_split 0.8 puts 3 of the 5 files (Game_20260715, fox_ms_frame1,
    # fox_ms_float) in validation, so the model is judged on games it never saw.
    argv = ["train", "--preset", "quick", "--replays", str(shared_replays), "--data", str(data_root),
            "--models-dir", str(models), "--val-split", "0.8",
            "--precision", "f32", "--threads", "1", "--no-progress", "--json", "--no-dagster"]  # fmt: skip
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    files = result["files"]
    for key in ("checkpoint", "policy", "policy_meta", "config"):
        assert Path(files[key]).is_file(), key
    assert Path(files["checkpoint"]).name.startswith("mlp_imitation_")

    policy, meta = load_policy(files["policy"])
    assert meta["policy_config"]["hidden"] == [32, 32] and meta["backbone"] == "mlp"
    doc = json.loads(Path(files["config"]).read_text())
    assert doc["training"]["max_files"] == 5 and doc["provenance"]["learner_replays"] == 5
    assert doc["provenance"]["replay_manifest_hash"] and doc["provenance"]["character_frames"]

    # Majority-class baseline: always predict the training split's most common value.
    # The margins (half or less of what seeds 0-3 reach) keep a model that only learned
    # the majority class from passing on rounding.
    data = load_training_data(resolve_config("quick", {"val_split": 0.8}), data_root)
    train_labels = data.train.labels[data.train.starts]
    val_labels = data.val.labels[data.val.starts]
    pressed = train_labels[:, :8].double().mean(0) > 0.5
    baseline_buttons = (val_labels[:, :8].bool() == pressed).double().mean().item()
    accuracy = result["head_accuracy"]
    assert accuracy["buttons"] > baseline_buttons + 0.001
    for head, col, margin in (("main_x", 8, 0.03), ("main_y", 9, 0.004)):
        majority = torch.bincount(train_labels[:, col]).argmax()
        assert accuracy[head] > (val_labels[:, col] == majority).double().mean().item() + margin, head

def test_ctrl_c_writes_a_checkpoint_and_exits_130_and_resume_finishes(data_root, tmp_path, capsys):
    models = tmp_path / "models"
    argv = [sys.executable, "-m", "exphil_assets.cli.main", "train", "--preset", "quick", "--data", str(data_root),
            "--models-dir", str(models), "--epochs", "50", "--checkpoint-every", "20", "--threads", "1",
            "--no-progress", "--no-dagster"]  # fmt: skip
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not list(models.glob("*.pt")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    (checkpoint,) = models.glob("*.pt")
    assert f"checkpoint written to {checkpoint}" in err
    assert f"--resume {checkpoint}" in err
    state = load_checkpoint(checkpoint)
    assert state["step"] > 0 and all(torch.isfinite(v).all() for v in state["model"].values())
    assert not list(models.glob(".tmp-*"))

    # Resuming from the CLI keeps the checkpoint's settings; --epochs 1 ends the run after this epoch.
    assert main(["train", "--resume", str(checkpoint), "--epochs", "1", "--no-progress", "--json",
                 "--no-dagster", "--data", str(data_root)]) == 0  # fmt: skip
    resumed = json.loads(capsys.readouterr().out)
    assert resumed["epochs_run"] == 1 and resumed["steps"] > state["step"]
    assert resumed["files"]["checkpoint"] == str(checkpoint)


def test_help_lists_every_guide_option(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = capsys.readouterr().out
    for flag in ("--preset", "--replays", "--epochs", "--batch-size", "--max-files", "--player-port", "--hidden",
                 "--lr", "--dropout", "--temporal", "--backbone", "--window-size", "--stride", "--truncate-bptt",
                 "--state-size", "--expand-factor", "--conv-size", "--num-layers", "--val-split",
                 "--accumulation-steps", "--lr-schedule", "--warmup-steps", "--decay-steps", "--early-stopping",
                 "--patience", "--min-delta", "--save-best", "--resume", "--precision", "--frame-delay",
                 "--wandb", "--wandb-project"):  # fmt: skip
        assert flag in text, flag
