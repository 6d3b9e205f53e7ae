"""TrainConfig, presets and resolve_config: defaults < preset < explicit flags."""

from __future__ import annotations

import dataclasses

import pytest
import yaml

from exphil_assets.errors import UserError
from exphil_assets.training.config import TrainConfig, config_hash, field_docs, resolve_config
from exphil_assets.training.presets import PRESETS, PRESETS_DIR, preset_yaml

# reference/presets.md, row by row ("-" = the TrainConfig default). presets.md has no dropout
# row: quick turns it off (presets.py says why), the others keep the default 0.1.
DOCUMENTED = {
    "quick": dict(epochs=1, max_files=5, batch_size=32, hidden=(32, 32), temporal=False, backbone="mlp",
                  window_size=60, num_layers=2, state_size=16, expand_factor=2,
                  mirror_prob=0.0, noise_prob=0.0, label_smoothing=0.0, val_split=0.0, early_stopping=False,
                  lr_schedule="constant", lr=1e-4, warmup_steps=0, ema_decay=None, accumulation_steps=1,
                  save_best=False, train_character=None, dropout=0.0),
    "standard": dict(epochs=10, max_files=50, batch_size=64, hidden=(64, 64), temporal=False, backbone="mlp",
                     mirror_prob=0.5, noise_prob=0.2, noise_scale=0.01, label_smoothing=0.05, val_split=0.1,
                     early_stopping=True, patience=5, min_delta=0.01, lr_schedule="cosine", lr=3e-4,
                     warmup_steps=0, ema_decay=None, accumulation_steps=1, save_best=True, train_character=None),
    "full": dict(epochs=50, max_files=None, batch_size=256, hidden=(256, 256), temporal=True, backbone="mamba",
                 window_size=60, num_layers=2, state_size=16, expand_factor=2, mirror_prob=0.5, noise_prob=0.3,
                 noise_scale=0.01, label_smoothing=0.1, val_split=0.1, early_stopping=True, patience=7,
                 min_delta=0.005, lr_schedule="cosine", lr=1e-4, warmup_steps=1000, ema_decay=0.999,
                 accumulation_steps=2, save_best=True, train_character=None),
    "mewtwo": dict(epochs=100, max_files=None, batch_size=256, hidden=(256, 256), temporal=True, backbone="mamba",
                   window_size=90, num_layers=3, state_size=32, expand_factor=2, mirror_prob=0.5, noise_prob=0.3,
                   noise_scale=0.01, label_smoothing=0.1, val_split=0.15, early_stopping=True, patience=10,
                   min_delta=0.001, lr_schedule="cosine_restarts", lr=1e-4, warmup_steps=2000, ema_decay=0.9995,
                   accumulation_steps=4, save_best=True, train_character="mewtwo"),
}


def test_defaults_are_the_guides():
    cfg = resolve_config(None, {})
    assert (cfg.epochs, cfg.batch_size, cfg.max_files, cfg.player_port) == (10, 64, None, 1)
    assert (cfg.hidden, cfg.lr, cfg.dropout) == ((512, 512), 1e-4, 0.1)
    assert (cfg.temporal, cfg.resolved_backbone, cfg.window_size, cfg.stride, cfg.truncate_bptt) == (
        False, "mlp", 60, 1, None)
    assert (cfg.state_size, cfg.expand_factor, cfg.conv_size, cfg.num_layers) == (16, 2, 4, 2)
    assert (cfg.val_split, cfg.accumulation_steps, cfg.lr_schedule, cfg.warmup_steps, cfg.decay_steps) == (
        0.0, 1, "constant", 0, None)
    assert (cfg.early_stopping, cfg.patience, cfg.min_delta, cfg.save_best, cfg.resume) == (
        False, 5, 0.01, False, None)
    assert (cfg.precision, cfg.frame_delay, cfg.wandb, cfg.wandb_project) == ("bf16", 0, False, "exphil")
    assert cfg.activation == "gelu"


def test_the_activation_names_match_the_networks():
    from exphil_assets.nets.activation import ACTIVATIONS
    from exphil_assets.training.config import ACTIVATIONS as CONFIG_ACTIVATIONS

    assert CONFIG_ACTIVATIONS == ACTIVATIONS


def test_temporal_without_backbone_is_lstm():
    assert resolve_config(None, {"temporal": True}).resolved_backbone == "lstm"


@pytest.mark.parametrize("name", list(DOCUMENTED))
def test_every_preset_resolves_to_the_documented_values(name):
    cfg = resolve_config(name, {})
    got = {k: getattr(cfg, k) for k in DOCUMENTED[name]}
    assert got == DOCUMENTED[name]


def test_explicit_flags_beat_the_preset_which_beats_defaults():
    cfg = resolve_config("standard", {"epochs": 3, "hidden": "16,8"})
    assert cfg.epochs == 3 and cfg.hidden == (16, 8)  # flags
    assert cfg.lr == 3e-4 and cfg.max_files == 50  # preset
    assert cfg.dropout == 0.1  # default


@pytest.mark.parametrize(
    ("preset", "overrides", "named"),
    [
        (None, {"learning_rate": 1}, "learning_rate"),
        ("turbo", {}, "turbo"),
        (None, {"temporal": True, "backbone": "transformer"}, "backbone"),
        (None, {"backbone": "lstm"}, "backbone"),
        (None, {"lr": -1e-3}, "lr"),
        (None, {"epochs": 0}, "epochs"),
        (None, {"batch_size": "lots"}, "batch_size"),
        (None, {"hidden": "64,-1"}, "hidden"),
        (None, {"lr_schedule": "step"}, "lr_schedule"),
        (None, {"precision": "fp8"}, "precision"),
        (None, {"activation": "tanh"}, "activation"),
        (None, {"val_split": 1.5}, "val_split"),
        (None, {"early_stopping": True}, "early_stopping"),
        (None, {"truncate_bptt": 10}, "truncate_bptt"),
        (None, {"max_frames_per_pass": 0}, "max_frames_per_pass"),
    ],
)
def test_bad_option_raises_user_error_naming_it(preset, overrides, named):
    with pytest.raises(UserError, match=named):
        resolve_config(preset, overrides)


def test_a_pass_shorter_than_one_window_is_refused_naming_both_options():
    with pytest.raises(UserError, match=r"'max_frames_per_pass': must be at least window_size \(90\).*got 60"):
        resolve_config(None, {"temporal": True, "backbone": "mamba", "window_size": 90, "max_frames_per_pass": 60})
    assert resolve_config(None, {"temporal": True, "window_size": 90, "max_frames_per_pass": 90}).max_frames_per_pass == 90
    assert resolve_config(None, {"max_frames_per_pass": 1}).max_frames_per_pass == 1  # the MLP's samples are 1 frame


def test_every_field_has_a_one_line_docstring():
    docs = field_docs()
    for f in dataclasses.fields(TrainConfig):
        assert docs.get(f.name), f"TrainConfig.{f.name} has no docstring"
        assert "\n" not in docs[f.name]


def test_config_hash_ignores_paths_and_logging_but_not_the_model():
    base = resolve_config("quick", {})
    assert config_hash(base) == config_hash(resolve_config("quick", {"models_dir": "/elsewhere", "wandb": True}))
    assert config_hash(base) != config_hash(resolve_config("quick", {"hidden": "64,64"}))


def test_preset_yaml_files_match_the_typed_presets():
    for name in PRESETS:
        path = PRESETS_DIR / f"{name}.yaml"
        assert path.read_text() == preset_yaml(name), f"{path} is stale: run python -m exphil_assets.training.presets --write"
        values = yaml.safe_load(path.read_text())["ops"]["imitation_policy"]["config"]
        assert values.pop("preset") == name
        assert "backbone" not in values  # the asset's partition key picks it
        backbone = PRESETS[name]["backbone"]
        partition = {"backbone": backbone, "temporal": backbone != "mlp"}
        assert resolve_config(None, {**values, **partition}) == resolve_config(name, {})


def test_device_is_a_machine_setting_outside_the_config_hash():
    base = resolve_config("quick", {})
    assert base.device == "auto"
    assert config_hash(base) == config_hash(resolve_config("quick", {"device": "cuda:1"}))


def test_resume_keeps_the_saved_device_name_unless_a_flag_overrides_it(tmp_path):
    from exphil_assets.training.checkpoints import save_checkpoint

    path = tmp_path / "mlp_quick_1.pt"
    save_checkpoint(path, {"backbone": "mlp", "config": resolve_config("quick", {"device": "cpu"}).to_dict()})
    assert resolve_config(None, {"resume": str(path)}).device == "cpu"
    assert resolve_config(None, {"resume": str(path), "device": "auto"}).device == "auto"
