"""The training loop on small synthetic data: accumulation, passes, exact resume, interrupts, NaN, save-best."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from exphil_assets.errors import UserError
from exphil_assets.nets import linear as linear_module
from exphil_assets.training import loop
from exphil_assets.training.checkpoints import load_checkpoint, load_policy
from exphil_assets.training.config import resolve_config
from exphil_assets.training.data import synthetic_training_data
from exphil_assets.training.flat_params import FlatParameters
from exphil_assets.training.loop import NonFiniteLoss, TrainingInterrupted, train

# Everything that can break exactness is on: dropout, augmentation, EMA, warmup + cosine, accumulation.
RESUME_OPTIONS = dict(
    hidden="16,16", batch_size=32, accumulation_steps=2, epochs=3, precision="f32", dropout=0.1,
    mirror_prob=0.5, noise_prob=0.5, label_smoothing=0.1, ema_decay=0.9, lr=3e-3, lr_schedule="cosine",
    warmup_steps=3, val_split=0.1, seed=7, device="cpu",
)


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tiny models gain nothing from intra-op threads, and lose a lot on a busy 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(params=["default", "onednn"])
def matmul_kernels(request, monkeypatch):
    """Run the test as is, then with every Linear product on oneDNN (tiny models stay on F.linear otherwise)."""
    if request.param == "onednn":
        if linear_module._LINEAR_POINTWISE is None:
            pytest.skip("this torch build has no oneDNN linear op here: Linear is F.linear")
        monkeypatch.setattr(linear_module, "ONEDNN_MIN_MACS", 0)
    return request.param


def _data(frames: int = 640, val_frames: int = 128):
    return synthetic_training_data(frames=frames, val_frames=val_frames, float_dim=12, seed=3)


def _cfg(tmp_path: Path, **overrides):
    return resolve_config(None, {"models_dir": str(tmp_path / "models"), **overrides})


def _weights(result) -> dict[str, torch.Tensor]:
    return load_file(result.files["policy"])


def _assert_same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def _record_step_gradients(monkeypatch, run_name) -> dict[str, list[list[torch.Tensor]]]:
    """Every optimiser step's per-parameter gradients (before clipping), listed under run_name()."""
    grads: dict[str, list[list[torch.Tensor]]] = {}
    real_clip = FlatParameters.clip_grad_norm_

    def recording_clip(self, max_norm, optimizer=None):
        grads.setdefault(run_name(), []).append([p.grad.clone() for p in self.params])
        return real_clip(self, max_norm, optimizer)

    monkeypatch.setattr(FlatParameters, "clip_grad_norm_", recording_clip)
    return grads


def test_accumulating_4x16_equals_one_batch_of_64(tmp_path, monkeypatch, matmul_kernels):
    # Adam hides a wrongly scaled gradient, so compare the gradients themselves, then the weights.
    grads = _record_step_gradients(monkeypatch, lambda: run)
    data = _data(frames=512, val_frames=0)
    common = dict(hidden="16,16", epochs=1, precision="f32", dropout=0.0, lr=1e-2, seed=1)
    run = "big"
    big = train(_cfg(tmp_path / "a", batch_size=64, **common), data=data, progress=False)
    run = "small"
    small = train(_cfg(tmp_path / "b", batch_size=16, accumulation_steps=4, **common), data=data, progress=False)
    assert big.steps == small.steps == 8
    for step_big, step_small in zip(grads["big"], grads["small"], strict=True):
        for g_big, g_small in zip(step_big, step_small, strict=True):
            torch.testing.assert_close(g_big, g_small, rtol=1e-4, atol=1e-6)  # float summation order
    wa, wb = _weights(big), _weights(small)
    for key in wa:
        torch.testing.assert_close(wa[key], wb[key], rtol=1e-4, atol=1e-4)  # Adam magnifies rounding in near-zero gradients


def test_passes_of_at_most_24_frames_give_the_update_of_one_pass(tmp_path, monkeypatch):
    # Micro-batches of 8 windows x 8 frames cut into passes of 3, 3 and 2 windows; augmentation on.
    grads = _record_step_gradients(monkeypatch, lambda: run)
    pass_sizes: dict[str, set[tuple[int, ...]]] = {}
    real_split = loop.split_into_passes

    def recording_split(batch, max_frames):
        passes = real_split(batch, max_frames)
        pass_sizes.setdefault(run, set()).add(tuple(len(p["labels"]) for p in passes))
        return passes

    monkeypatch.setattr(loop, "split_into_passes", recording_split)
    data = synthetic_training_data(frames=256, float_dim=12, length=8, seed=3)
    common = dict(temporal=True, backbone="mamba", hidden="8", num_layers=1, window_size=8, state_size=4,
                  batch_size=8, accumulation_steps=2, epochs=1, precision="f32", dropout=0.0, lr=1e-2,
                  mirror_prob=0.5, noise_prob=0.5, seed=1)  # fmt: skip
    run = "one"
    one = train(_cfg(tmp_path / "a", max_frames_per_pass=64, **common), data=data, progress=False)
    run = "passes"
    passes = train(_cfg(tmp_path / "b", max_frames_per_pass=24, **common), data=data, progress=False)
    assert one.steps == passes.steps > 1
    assert pass_sizes["one"] == {(8,), (7,)} and pass_sizes["passes"] == {(3, 3, 2), (3, 3, 1)}  # 63 windows
    for step_one, step_passes in zip(grads["one"], grads["passes"], strict=True):
        for g_one, g_passes in zip(step_one, step_passes, strict=True):
            torch.testing.assert_close(g_one, g_passes, rtol=1e-4, atol=1e-6)  # float summation order
    for key, value in _weights(one).items():
        torch.testing.assert_close(value, _weights(passes)[key], rtol=1e-4, atol=1e-4)
    train_one, train_passes = one.history[0].train, passes.history[0].train
    assert train_one["frames"] == train_passes["frames"] == data.train.num_samples * 8
    assert train_passes["loss"] == pytest.approx(train_one["loss"], rel=1e-5)


def test_stop_after_one_epoch_and_resume_ends_at_the_uninterrupted_weights(tmp_path, matmul_kernels):
    data = _data()
    full = train(_cfg(tmp_path / "full", **RESUME_OPTIONS), data=data, progress=False)

    first = train(_cfg(tmp_path / "part", **RESUME_OPTIONS), data=data, progress=False, on_epoch=lambda r: True)
    assert first.epochs_run == 1 and first.stopped == "callback"
    saved = load_checkpoint(first.files["checkpoint"])
    assert (saved["epoch"], saved["batch_in_epoch"]) == (1, 0)

    # Only --resume is given: every other setting comes back from the checkpoint.
    resumed = train(resolve_config(None, {"resume": first.files["checkpoint"]}), data=data, progress=False)
    assert resumed.epochs_run == 3 and resumed.steps == full.steps
    assert resumed.files["policy"] == first.files["policy"]  # the run continues in place
    _assert_same_weights(_weights(full), _weights(resumed))
    assert [r.val["loss"] for r in resumed.history] == [r.val["loss"] for r in full.history]


def test_ctrl_c_mid_epoch_writes_a_checkpoint_that_resumes_exactly(tmp_path, monkeypatch):
    data = _data()
    full = train(_cfg(tmp_path / "full", **RESUME_OPTIONS), data=data, progress=False)

    real_set_lr = loop.set_lr

    def set_lr_then_ctrl_c(optimizer, peak, schedule, step):
        if step == 13:  # 10 steps per epoch: the 4th step of epoch 2
            os.kill(os.getpid(), signal.SIGINT)
        return real_set_lr(optimizer, peak, schedule, step)

    monkeypatch.setattr(loop, "set_lr", set_lr_then_ctrl_c)
    with pytest.raises(TrainingInterrupted) as stopped:
        train(_cfg(tmp_path / "part", **RESUME_OPTIONS), data=data, progress=False)
    monkeypatch.setattr(loop, "set_lr", real_set_lr)
    state = load_checkpoint(stopped.value.checkpoint)
    assert (state["epoch"], state["batch_in_epoch"], state["step"]) == (1, 8, 14)
    assert str(stopped.value.checkpoint) in str(stopped.value)

    resumed = train(resolve_config(None, {"resume": str(stopped.value.checkpoint)}), data=data, progress=False)
    _assert_same_weights(_weights(full), _weights(resumed))


def test_sigkill_mid_epoch_then_resume_from_the_last_checkpoint_completes(tmp_path):
    models = tmp_path / "models"
    options = {**RESUME_OPTIONS, "checkpoint_every": 4, "models_dir": str(models)}
    # The child dies by SIGKILL right after its second mid-epoch checkpoint lands.
    script = textwrap.dedent(
        f"""
        import os, signal
        from exphil_assets.training import checkpoints, loop
        from exphil_assets.training.config import resolve_config
        from exphil_assets.training.data import synthetic_training_data

        real_save = checkpoints.save_checkpoint
        def save_then_die(path, state):
            real_save(path, state)
            if state["step"] == 8:
                os.kill(os.getpid(), signal.SIGKILL)
        checkpoints.save_checkpoint = save_then_die
        data = synthetic_training_data(frames=640, val_frames=128, float_dim=12, seed=3)
        loop.train(resolve_config(None, {options!r}), data=data, progress=False)
        """
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=240, env=env)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    (checkpoint,) = models.glob("*.pt")
    assert load_checkpoint(checkpoint)["batch_in_epoch"] > 0  # killed mid-epoch
    assert not list(models.glob("*_policy.safetensors"))

    data = _data()
    resumed = train(resolve_config(None, {"resume": str(checkpoint)}), data=data, progress=False)
    assert resumed.epochs_run == 3
    full = train(_cfg(tmp_path / "full", **RESUME_OPTIONS), data=data, progress=False)
    _assert_same_weights(_weights(full), _weights(resumed))


def test_nan_loss_stops_with_a_clear_error_and_keeps_the_last_good_checkpoint(tmp_path):
    data = _data()

    def poison(record):
        data.train.floats[:] = float("nan")  # epoch 2 sees NaN features

    with pytest.raises(NonFiniteLoss, match=r"epoch 2.*lower --lr"):
        train(_cfg(tmp_path, hidden="8", epochs=3, precision="f32"), data=data, progress=False, on_epoch=poison)
    (checkpoint,) = (tmp_path / "models").glob("*.pt")
    state = load_checkpoint(checkpoint)
    assert state["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in state["model"].values())
    assert not list((tmp_path / "models").glob("*_policy.safetensors"))


def test_save_best_exports_only_on_strict_improvement(tmp_path, monkeypatch):
    data = _data()
    scripted = iter([3.0, 2.0, 2.0, 1.995, 1.5])  # improves at epochs 1, 2 and 5 (min_delta 0.01)
    exports = []

    def scripted_evaluate(model, split, cfg, dist=None):
        acc = loop.MetricAccumulator()
        acc.frames, acc.loss[0] = 1, next(scripted)
        return acc

    real_export = loop.ckpt.export_policy

    def recording_export(weights, meta, *args, **kwargs):
        exports.append((Path(weights).name, kwargs["extra"]["epoch"]))
        return real_export(weights, meta, *args, **kwargs)

    monkeypatch.setattr(loop, "evaluate", scripted_evaluate)
    monkeypatch.setattr(loop.ckpt, "export_policy", recording_export)
    result = train(_cfg(tmp_path, hidden="8", epochs=5, val_split=0.1, save_best=True, min_delta=0.01,
                        precision="f32"), data=data, progress=False)
    best_epochs = [epoch for name, epoch in exports if "_best_policy" in name]
    assert best_epochs == [0, 1, 4]
    assert [r.improved for r in result.history] == [True, True, False, False, True]
    assert json.loads(Path(result.files["best_policy_meta"]).read_text())["val_loss"] == 1.5
    assert result.best_val_loss == 1.5


def test_early_stopping_stops_at_the_right_epoch(tmp_path, monkeypatch):
    scripted = iter([3.0, 2.0, 1.999, 2.5, 1.0, 0.5])

    def scripted_evaluate(model, split, cfg, dist=None):
        acc = loop.MetricAccumulator()
        acc.frames, acc.loss[0] = 1, next(scripted)
        return acc

    monkeypatch.setattr(loop, "evaluate", scripted_evaluate)
    result = train(_cfg(tmp_path, hidden="8", epochs=6, val_split=0.1, early_stopping=True, patience=2,
                        min_delta=0.01, precision="f32"), data=_data(), progress=False)
    assert result.stopped == "early_stopping"
    assert result.epochs_run == 4  # epochs 3 and 4 fail to beat 2.0 by more than 0.01


def test_on_step_sees_every_optimiser_step_in_order(tmp_path):
    seen: list[int] = []
    epoch_ends: list[int] = []
    result = train(_cfg(tmp_path, hidden="8", epochs=2, batch_size=64, accumulation_steps=2, precision="f32"),
                   data=_data(), progress=False, on_step=seen.append,
                   on_epoch=lambda record: epoch_ends.append(len(seen)))  # fmt: skip
    assert seen == list(range(1, result.steps + 1))
    assert epoch_ends == [result.steps // 2, result.steps]  # each epoch's steps before its on_epoch


def test_resume_with_another_architecture_is_refused(tmp_path):
    data = _data()
    first = train(_cfg(tmp_path, hidden="8", epochs=1, precision="f32"), data=data, progress=False)
    with pytest.raises(UserError, match="hidden"):
        train(resolve_config(None, {"resume": first.files["checkpoint"], "hidden": "16"}), data=data, progress=False)


def test_a_checkpoint_from_before_the_activation_option_resumes_as_gelu(tmp_path):
    data = _data()
    first = train(_cfg(tmp_path, hidden="8", epochs=1, precision="f32", activation="gelu"), data=data, progress=False)
    state = torch.load(first.files["checkpoint"], weights_only=True)
    del state["config"]["activation"]  # as earlier versions wrote it
    torch.save(state, first.files["checkpoint"])
    cfg = resolve_config(None, {"resume": first.files["checkpoint"], "epochs": 2})
    assert cfg.activation == "gelu"
    assert train(cfg, data=data, progress=False).epochs_run == 2
    with pytest.raises(UserError, match="activation"):
        train(resolve_config(None, {"resume": first.files["checkpoint"], "activation": "relu"}), data=data,
              progress=False)


def test_artefacts_rebuild_the_policy_and_record_provenance(tmp_path):
    data = _data()
    result = train(_cfg(tmp_path, hidden="8,8", epochs=1, val_split=0.1, precision="bf16"), data=data,
                   progress=False)
    policy, meta = load_policy(result.files["policy"], embedding_version="synthetic")
    assert meta["backbone"] == "mlp" and meta["policy_config"]["hidden"] == [8, 8]
    batch = data.val.gather(torch.arange(4))
    logits, _ = policy(batch["floats"], batch["ids"], batch["labels"])
    assert logits["main_x"].shape == (4, 1, 17) and logits["shoulder"].shape == (4, 1, 5)
    doc = json.loads(Path(result.files["config"]).read_text())
    assert doc["status"] == "completed" and doc["provenance"]["dataset_id"] == data.dataset_id
    assert doc["training"]["config_hash"] == result.config_hash
    assert doc["results"]["final_val_loss"] == result.final_val_loss
    assert doc["model"]["params"] == result.params
    name = Path(result.files["checkpoint"]).name
    assert name.startswith("mlp_imitation_") and name.endswith(".pt")


def test_wandb_offline_run_records_step_and_epoch_metrics(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    result = train(_cfg(tmp_path, hidden="8", epochs=2, val_split=0.1, precision="f32", wandb=True),
                   data=_data(frames=256, val_frames=64), progress=False)
    (run_file,) = (tmp_path / "models" / "wandb").glob("offline-run-*/run-*.wandb")
    # The run file is a log of protobuf records; metric keys are stored as plain strings.
    # wandb's service process writes it asynchronously, shortly after finish() returns.
    deadline = time.monotonic() + 30
    while (blob := run_file.read_bytes()).count(b"train/grad_norm") < result.steps and time.monotonic() < deadline:
        time.sleep(0.2)
    assert blob.count(b"train/grad_norm") >= result.steps  # one history row per optimiser step
    for key in (b"train/step_loss", b"train/lr", b"train/loss/buttons", b"val/loss/main_x", b"val/acc/shoulder",
                b"val/acc/button_A", b"val/top3/c_x", b"epoch"):
        assert key in blob, key
    assert Path(result.files["checkpoint"]).stem.encode() in blob  # the run is named after the checkpoint


@pytest.mark.parametrize("backbone", ["lstm", "gru", "mamba", "sliding_window", "hybrid"])
def test_temporal_backbones_train_sequence_to_sequence(tmp_path, backbone):
    data = synthetic_training_data(frames=160, val_frames=48, float_dim=12, length=8, seed=3)
    cfg = _cfg(tmp_path, temporal=True, backbone=backbone, hidden="8", num_layers=1, window_size=8, state_size=4,
               epochs=1, batch_size=4, val_split=0.1, precision="bf16", lr=1e-3)
    result = train(cfg, data=data, progress=False)
    record = result.history[0]
    assert record.train["frames"] == data.train.num_samples * 8  # every frame of every window is a target
    assert record.val["frames"] == data.val.num_samples * 8
    assert all(map(math.isfinite, [record.train["loss"], record.val["loss"]]))
    policy, meta = load_policy(result.files["policy"], embedding_version="synthetic")
    assert meta["backbone"] == backbone and meta["policy_config"]["window_size"] == 8
    batch = data.val.gather(torch.arange(2))
    logits, _ = policy(batch["floats"], batch["ids"], batch["labels"])
    assert logits["buttons"].shape == (2, 8, 8) and logits["c_y"].shape == (2, 8, 17)


def test_truncated_bptt_reaches_the_recurrent_backbone(tmp_path):
    data = synthetic_training_data(frames=96, float_dim=12, length=8, seed=3)
    cfg = _cfg(tmp_path, temporal=True, backbone="gru", hidden="8", num_layers=1, window_size=8, truncate_bptt=4,
               epochs=1, batch_size=4, precision="f32")
    result = train(cfg, data=data, progress=False)
    _, meta = load_policy(result.files["policy"], embedding_version="synthetic")
    assert meta["policy_config"]["truncate_bptt"] == 4
