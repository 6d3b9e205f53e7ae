"""Checkpoint files: names, atomic writes, RNG state, exported policies and their compatibility checks."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import torch

from exphil_assets.errors import UserError
from exphil_assets.features.constants import EMBEDDING_VERSION
from exphil_assets.features.state import feature_spec
from exphil_assets.nets.policy import Policy, PolicyConfig
from exphil_assets.training.checkpoints import (
    RunFiles,
    export_policy,
    load_checkpoint,
    load_policy,
    new_run_files,
    policy_files,
    rng_state,
    save_checkpoint,
    set_rng_state,
)


def _export(tmp_path: Path, backbone: str = "mlp", version=EMBEDDING_VERSION) -> tuple[Policy, Path]:
    spec = feature_spec()
    cfg = PolicyConfig(spec.float_dim, spec.id_vocab_sizes, backbone=backbone, hidden=(8,), num_layers=1)
    policy = Policy(cfg)
    weights, meta = policy_files(tmp_path / f"{backbone}_test_20260101T000000")
    export_policy(weights, meta, policy.state_dict(), cfg, spec, version, backbone)
    return policy, weights


def test_run_files_follow_the_documented_names(tmp_path):
    now = datetime(2026, 8, 1, 12, 30, 5, tzinfo=UTC)
    files = new_run_files(tmp_path, "mamba", "mewtwo", now)
    assert files.checkpoint.name == "mamba_mewtwo_20260801T123005.pt"
    assert files.policy.name == "mamba_mewtwo_20260801T123005_policy.safetensors"
    assert files.policy_meta.name == "mamba_mewtwo_20260801T123005_policy.json"
    assert files.config_json.name == "mamba_mewtwo_20260801T123005_config.json"
    files.checkpoint.write_bytes(b"taken")
    assert new_run_files(tmp_path, "mamba", "mewtwo", now).stem.name == "mamba_mewtwo_20260801T123005-1"


def test_policy_files_accept_either_file_or_the_stem(tmp_path):
    expected = (tmp_path / "mlp_a_1_policy.safetensors", tmp_path / "mlp_a_1_policy.json")
    for given in ("mlp_a_1", "mlp_a_1_policy", "mlp_a_1_policy.json", "mlp_a_1_policy.safetensors", "mlp_a_1.pt"):
        assert policy_files(tmp_path / given) == expected


def test_exported_policy_rebuilds_the_same_network(tmp_path):
    policy, weights = _export(tmp_path)
    loaded, meta = load_policy(weights)
    assert meta["backbone"] == "mlp" and meta["embedding_version"] == EMBEDDING_VERSION
    assert meta["feature_spec"]["float_names"] == list(feature_spec().float_names)
    for key, value in policy.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value)
    assert not loaded.training


def test_policy_from_another_embedding_version_is_refused(tmp_path):
    _, weights = _export(tmp_path, version=EMBEDDING_VERSION + 1)
    with pytest.raises(UserError, match="embedding version"):
        load_policy(weights)


def test_policy_of_another_backbone_is_refused_when_one_is_asked_for(tmp_path):
    _, weights = _export(tmp_path, backbone="gru")
    with pytest.raises(UserError, match="'gru' backbone, not 'lstm'"):
        load_policy(weights, backbone="lstm")


def test_checkpoint_round_trips_with_weights_only_and_checks_backbone(tmp_path):
    path = tmp_path / "mlp_x_1.pt"
    save_checkpoint(path, {"backbone": "mlp", "embedding_version": 1, "step": 3, "model": {"w": torch.ones(2)}})
    assert load_checkpoint(path, embedding_version=1, backbone="mlp")["step"] == 3
    with pytest.raises(UserError, match="'mlp' backbone, not 'mamba'"):
        load_checkpoint(path, backbone="mamba")
    with pytest.raises(UserError, match="embedding version"):
        load_checkpoint(path, embedding_version=2)
    assert not list(tmp_path.glob(".tmp-*"))


def test_missing_truncated_and_foreign_checkpoints_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="not found"):
        load_checkpoint(tmp_path / "nope.pt")
    good = tmp_path / "good.pt"
    save_checkpoint(good, {"backbone": "mlp", "model": {"w": torch.ones(1000)}})
    (tmp_path / "cut.pt").write_bytes(good.read_bytes()[:200])
    with pytest.raises(UserError, match="cannot read"):
        load_checkpoint(tmp_path / "cut.pt")
    torch.save({"hello": 1}, tmp_path / "other.pt")
    with pytest.raises(UserError, match="not an ExPhil training checkpoint"):
        load_checkpoint(tmp_path / "other.pt")


def test_failed_write_leaves_the_previous_checkpoint_intact(tmp_path, monkeypatch):
    path = tmp_path / "run.pt"
    save_checkpoint(path, {"backbone": "mlp", "step": 1})

    def crash(obj, f, *args, **kwargs):
        Path(f).write_bytes(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(OSError):
        save_checkpoint(path, {"backbone": "mlp", "step": 2})
    monkeypatch.undo()
    assert load_checkpoint(path)["step"] == 1
    assert not list(tmp_path.glob(".tmp-*"))


def test_rng_state_round_trips_python_numpy_and_torch():
    state = rng_state()
    first = (random.random(), np.random.rand(), torch.rand(1).item())
    set_rng_state(state)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == first


def test_run_files_dataclass_derives_everything_from_the_stem(tmp_path):
    files = RunFiles(tmp_path / "lstm_a_2")
    assert files.best_policy.name == "lstm_a_2_best_policy.safetensors"
    assert json.dumps(str(files.config_json)).endswith('lstm_a_2_config.json"')


def test_a_checkpoint_written_on_a_gpu_machine_loads_here_on_the_cpu(tmp_path, monkeypatch):
    # Storages tagged "cuda:0", as torch.save tags them on a GPU: torch.load without map_location
    # would refuse them on a CPU-only machine; load_checkpoint maps them to the CPU.
    path = tmp_path / "mlp_gpu_1.pt"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.serialization, "location_tag", lambda storage: "cuda:0")
    torch.save({"format": "exphil.train_checkpoint", "backbone": "mlp", "model": {"w": torch.arange(3.0)}}, path)
    monkeypatch.undo()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(RuntimeError, match="CUDA"):
        torch.load(path, weights_only=True)
    state = load_checkpoint(path, backbone="mlp")
    assert state["model"]["w"].device == torch.device("cpu")
    assert torch.equal(state["model"]["w"], torch.arange(3.0))


def test_saved_checkpoints_hold_plain_cpu_tensors_in_the_same_structure(tmp_path):
    path = tmp_path / "mlp_x_2.pt"
    weight = torch.ones(2, requires_grad=True)
    save_checkpoint(path, {"backbone": "mlp", "model": {"w": weight}, "states": [(torch.zeros(1), 3)], "step": 4})
    state = torch.load(path, map_location="cpu", weights_only=True)
    assert state["model"]["w"].device.type == "cpu" and not state["model"]["w"].requires_grad
    assert isinstance(state["states"], list) and isinstance(state["states"][0], tuple)
    assert state["states"][0][1] == 3 and state["step"] == 4


def test_load_policy_puts_the_network_on_the_requested_device(tmp_path):
    _, weights = _export(tmp_path)
    on_cpu, _ = load_policy(weights, device="cpu")
    assert {p.device.type for p in on_cpu.parameters()} == {"cpu"}
    # The meta device stands in for a GPU: the weights are read to the CPU, then moved.
    moved, _ = load_policy(weights, device=torch.device("meta"))
    assert {p.device.type for p in moved.parameters()} == {"meta"}
    assert not moved.training
