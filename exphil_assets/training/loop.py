"""Imitation training: the loop, as one straight story.

    data -> Policy (on --device) -> for each epoch: for each optimiser step:
        micro-batches (sharded by rank, gathered and augmented on the CPU, then moved to
        the device) -> passes of at most --max-frames-per-pass frames -> forward (autocast
        under bf16) -> loss sums -> backward scaled by 1 / frames in the step
        -> clip -> AdamW -> EMA
    -> validation -> early stopping / save-best -> checkpoint
    -> exported policy + config.json

Exactness: the data order is a pure function of (seed, epoch), augmentation draws
from a generator seeded by (seed, epoch, batch), and the checkpoint carries the
model, optimiser, step, the position inside the epoch and the RNG states, so a
run stopped anywhere at a step boundary and resumed ends at the weights of the
uninterrupted run (in f32, on the CPU; GPU kernels need not be bit-deterministic).
Files hold CPU tensors, so a run may resume, or its policy load, on another device.

Ctrl-C (SIGINT) finishes the current optimiser step, writes the checkpoint and
raises `TrainingInterrupted`; a second Ctrl-C aborts at once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from exphil_assets.device import flush_denormals, resolve_device
from exphil_assets.errors import UserError
from exphil_assets.paths import resolve_data_root, resolve_models_dir
from exphil_assets.training import checkpoints as ckpt
from exphil_assets.training.augment import AugmentColumns, Augmenter, batch_generator
from exphil_assets.training.batches import (
    SplitTensors,
    epoch_order,
    micro_batches,
    split_into_passes,
    steps_per_epoch,
)
from exphil_assets.training.config import ARCHITECTURE_FIELDS, TrainConfig, config_hash
from exphil_assets.training.data import TrainingData, load_training_data
from exphil_assets.training.distributed import DistContext
from exphil_assets.training.early_stopping import EarlyStopping
from exphil_assets.training.ema import WeightEMA
from exphil_assets.training.flat_params import FlatParameters
from exphil_assets.training.loss import HEADS, ImitationObjective
from exphil_assets.training.metrics import MetricAccumulator
from exphil_assets.training.schedules import make_schedule, set_lr

EVAL_FRAMES_PER_BATCH = 4096  # validation has no backward pass, so larger batches are cheap
POSTFIX_EVERY = 50  # optimiser steps between progress-bar loss updates (each one is a sync)


class TrainingInterrupted(Exception):
    """Training stopped on Ctrl-C after writing a resumable checkpoint."""

    def __init__(self, checkpoint: Path):
        super().__init__(f"interrupted; resume with --resume {checkpoint}")
        self.checkpoint = checkpoint


class NonFiniteLoss(UserError):
    """The loss or gradient became NaN/inf; nothing was written for that state."""


@dataclass
class EpochRecord:
    """Metrics of one finished epoch (epoch is 0-based)."""

    epoch: int
    step: int
    lr: float
    seconds: float
    train: dict[str, float]
    val: dict[str, float] | None = None
    improved: bool = False


@dataclass
class TrainResult:
    """What a finished run produced."""

    files: dict[str, str]
    history: list[EpochRecord]
    best_val_loss: float | None
    final_val_loss: float | None
    final_train_loss: float | None
    head_accuracy: dict[str, float]
    epochs_run: int
    steps: int
    params: int
    config_hash: str
    dataset_id: str
    stopped: str  # "completed", "early_stopping" or "callback"
    backbone: str
    device: str = "cpu"  # the torch device it trained on

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def build_policy_config(cfg: TrainConfig, data: TrainingData) -> Any:
    """The PolicyConfig of this run: the model options of `cfg` plus the feature layout."""
    from exphil_assets.nets.policy import PolicyConfig

    return PolicyConfig(
        float_dim=data.float_dim,
        id_vocab_sizes=tuple(data.id_vocab_sizes),
        backbone=cfg.resolved_backbone,
        hidden=tuple(cfg.hidden),
        num_layers=cfg.num_layers,
        dropout=cfg.dropout,
        activation=cfg.activation,
        window_size=cfg.window_size,
        state_size=cfg.state_size,
        expand_factor=cfg.expand_factor,
        conv_size=cfg.conv_size,
        truncate_bptt=cfg.truncate_bptt,
    )


def autocast(precision: str, device: torch.device | str = "cpu") -> contextlib.AbstractContextManager:
    """bf16: matmuls in bfloat16, weights, loss and optimiser stay fp32. f32: exact."""
    if precision == "bf16":
        return torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def to_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    """A batch on the training device (a no-op on the CPU; the copy overlaps compute on CUDA)."""
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


class _StopRequest:
    """First Ctrl-C asks to stop at the next step boundary; a second one aborts at once."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self) -> _StopRequest:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def seed_everything(seed: int) -> None:
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@torch.no_grad()
def evaluate(
    model: torch.nn.Module, split: SplitTensors, cfg: TrainConfig, dist: DistContext | None = None
) -> MetricAccumulator:
    """Loss and accuracies of `model` on a split, with the training loss function."""
    dist = dist or DistContext()
    device = next(model.parameters()).device
    model.eval()
    objective = ImitationObjective(model, cfg.label_smoothing)  # the training loss
    acc = MetricAccumulator(device)
    per_batch = max(cfg.batch_size, EVAL_FRAMES_PER_BATCH // split.length)
    for i, idx in enumerate(micro_batches(torch.arange(split.num_samples), per_batch)):
        if i % dist.world_size != dist.rank:
            continue
        batch = to_device(split.gather(idx), device)
        with autocast(cfg.precision, device):
            logits, losses = objective(batch["floats"], batch["ids"], batch["labels"])
        acc.update(logits, batch["labels"], losses)
    if dist.enabled:
        acc.load_tensor_(dist.all_reduce_sum(acc.as_tensor()))
    return acc


def train(
    cfg: TrainConfig,
    data_root: str | Path | None = None,
    progress: bool = True,
    on_epoch: Callable[[EpochRecord], bool | None] | None = None,
    data: TrainingData | None = None,
    on_step: Callable[[int], None] | None = None,
) -> TrainResult:
    """Train a policy by imitation; returns paths, history and metrics.

    `on_epoch(record)` is called after each epoch; returning True stops the run
    there (the checkpoint is written and can be resumed). `on_step(step)` is called
    after each optimiser step, inside the epoch's timed span. `data` replaces the
    dataset built from `cfg` (tests and benchmarks).
    """
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    dist = DistContext.from_env(resolve_device(cfg.device))  # under torchrun: this rank's GPU
    try:
        with flush_denormals():
            return _Run(cfg, data_root, progress, on_epoch, data, dist, on_step).run()
    finally:
        dist.close()


class _Run:
    """The state of one training run and the steps that change it."""

    def __init__(
        self,
        cfg: TrainConfig,
        data_root: str | Path | None,
        progress: bool,
        on_epoch: Callable[[EpochRecord], bool | None] | None,
        data: TrainingData | None,
        dist: DistContext,
        on_step: Callable[[int], None] | None = None,
    ) -> None:
        from exphil_assets.nets.policy import Policy

        self.cfg, self.dist, self.on_epoch, self.on_step = cfg, dist, on_epoch, on_step
        self.device = dist.device
        self.progress = progress and dist.is_main
        self.backbone = cfg.resolved_backbone
        resumed = self._read_resume_checkpoint()
        self.data = data if data is not None else self._load_data(data_root)
        if resumed is not None:
            ckpt.check_compatible(Path(cfg.resume), resumed, self.data.embedding_version, self.backbone)
        if self.data.train.num_samples == 0:
            raise UserError("the training split is empty: no frames matched the data options")

        seed_everything(cfg.seed)
        self.policy_config = build_policy_config(cfg, self.data)
        # Built on the CPU, then moved: the same seed gives the same initial weights on any device.
        self.model = Policy(self.policy_config).to(self.device)
        self.model.heads.init_output_bias_(self.data.train.labels)  # resume overwrites it
        self.params = sum(p.numel() for p in self.model.parameters())
        # All weights in one buffer, gradients gathered into another: clipping and AdamW are whole-buffer ops.
        self.flat = FlatParameters(self.model)
        self.objective = ImitationObjective(self.model, cfg.label_smoothing)
        device_ids = [self.device.index] if self.device.type == "cuda" else None
        self.ddp = DistributedDataParallel(self.objective, device_ids=device_ids) if dist.enabled else None
        self.optimizer = torch.optim.AdamW([self.flat.param], lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True)
        self.steps_per_epoch = steps_per_epoch(
            self.data.train.num_samples, cfg.batch_size, cfg.accumulation_steps, dist.world_size
        )
        self.total_steps = self.steps_per_epoch * cfg.epochs
        self.schedule = make_schedule(
            cfg.lr_schedule, self.total_steps, cfg.warmup_steps, cfg.decay_steps,
            cfg.min_lr_ratio, cfg.exp_decay_rate, cfg.restart_steps,
        )
        self.ema = WeightEMA(self.model, cfg.ema_decay) if cfg.ema_decay else None
        self.early = EarlyStopping(cfg.patience, cfg.min_delta)
        self.augment = Augmenter(
            AugmentColumns.from_feature_spec(self.data.feature_spec), cfg.mirror_prob, cfg.noise_prob, cfg.noise_scale
        )
        self.history: list[EpochRecord] = []
        self.step, self.epoch, self.batch_in_epoch = 0, 0, 0
        self.partial_metrics: torch.Tensor | None = None
        self.config_hash = config_hash(cfg)

        if resumed is not None:
            self.files = ckpt.run_files_of_checkpoint(cfg.resume)  # type: ignore[arg-type]
            self._restore(resumed)
        else:
            models_dir = resolve_models_dir(cfg.models_dir)
            self.files = ckpt.new_run_files(models_dir, self.backbone, cfg.name) if dist.is_main else None
        self.wandb = self._start_wandb()

    def _load_data(self, data_root: str | Path | None) -> TrainingData:
        # Under DDP rank 0 builds the dataset first; the others then reuse it from disk.
        if self.dist.enabled and not self.dist.is_main:
            self.dist.barrier()
        data = load_training_data(self.cfg, resolve_data_root(data_root or self.cfg.data), progress=self.progress)
        if self.dist.enabled and self.dist.is_main:
            self.dist.barrier()
        return data

    # --- resume ----------------------------------------------------------------------

    def _read_resume_checkpoint(self) -> dict[str, Any] | None:
        if not self.cfg.resume:
            return None
        state = ckpt.load_checkpoint(self.cfg.resume, backbone=self.backbone)
        saved = state["config"]
        for name in ARCHITECTURE_FIELDS:
            mine = self.cfg.to_dict()[name]
            if name == "backbone":
                mine = self.backbone
                saved_value = saved.get("backbone") or state.get("backbone")
            else:
                saved_value = saved.get(name)
            if saved_value is not None and mine != saved_value:
                raise UserError(
                    f"option {name!r}: the checkpoint {self.cfg.resume} was trained with {saved_value!r}, "
                    f"cannot resume it with {mine!r}"
                )
        return state

    def _restore(self, state: dict[str, Any]) -> None:
        if state.get("dataset_id") != self.data.dataset_id:
            print(
                f"warning: resuming on dataset {self.data.dataset_id}, the checkpoint was trained on "
                f"{state.get('dataset_id')}; the run will not match an uninterrupted one",
                file=sys.stderr,
            )
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.step, self.epoch, self.batch_in_epoch = state["step"], state["epoch"], state["batch_in_epoch"]
        self.partial_metrics = state.get("partial_metrics")
        self.early.load_state_dict(state["early_stopping"])
        if self.ema is not None and state.get("ema") is not None:
            self.ema.load_state_dict(state["ema"])
        self.history = [EpochRecord(**r) for r in state.get("history", [])]
        ckpt.set_rng_state(state["rng"])

    # --- the loop --------------------------------------------------------------------

    def run(self) -> TrainResult:
        cfg = self.cfg
        stopped = "completed"
        set_lr(self.optimizer, cfg.lr, self.schedule, self.step)
        with _StopRequest() as stop:
            while self.epoch < cfg.epochs:
                started = time.perf_counter()
                train_metrics = self._train_epoch(stop)
                record = self._end_epoch(train_metrics, time.perf_counter() - started)
                callback_stop = bool(self.on_epoch(record)) if self.on_epoch else False
                self.epoch, self.batch_in_epoch, self.partial_metrics = self.epoch + 1, 0, None
                self._save_checkpoint(status="running")
                if cfg.early_stopping and self.early.should_stop:
                    stopped = "early_stopping"
                    self._say(f"early stopping: no improvement of val loss for {cfg.patience} epochs")
                    break
                if callback_stop:
                    stopped = "callback"
                    break
                if self.dist.any(stop.requested):
                    raise TrainingInterrupted(self.files.checkpoint if self.files else Path("?"))
        return self._finish(stopped)

    def _train_epoch(self, stop: _StopRequest) -> MetricAccumulator:
        cfg, dist, data = self.cfg, self.dist, self.data.train
        objective = self.ddp or self.objective
        objective.train()
        plan = micro_batches(epoch_order(data.num_samples, cfg.seed, self.epoch), cfg.batch_size, dist.world_size)
        accum = cfg.accumulation_steps
        metrics = MetricAccumulator(self.device)
        if self.partial_metrics is not None:
            metrics.load_tensor_(self.partial_metrics)
        done = sum(len(b) for b in plan[: self.batch_in_epoch]) * data.length
        bar = tqdm(
            total=sum(len(b) for b in plan) * data.length, initial=done, unit="frame", unit_scale=True,
            desc=f"epoch {self.epoch + 1}/{cfg.epochs}", disable=not self.progress, leave=False, dynamic_ncols=True,
        )
        max_norm = cfg.max_grad_norm if cfg.max_grad_norm is not None else math.inf
        resume_at = self.batch_in_epoch
        for first in range(resume_at, len(plan), accum):
            group = plan[first : first + accum]
            step_frames = sum(len(b) for b in group) * data.length
            step_loss = torch.zeros((), dtype=torch.float64, device=self.device)
            for j, idx in enumerate(group):
                batch = data.gather(idx[dist.rank :: dist.world_size])
                if self.augment.active:  # on the CPU, with its CPU generator: the same draws on any device
                    gen = batch_generator(cfg.seed, self.epoch, (first + j) * dist.world_size + dist.rank)
                    self.augment(batch, gen)
                # Passes bound the frames whose activations are held at once (memory flat in T).
                passes = split_into_passes(to_device(batch, self.device), cfg.max_frames_per_pass)
                for k, part in enumerate(passes):
                    last = j == len(group) - 1 and k == len(passes) - 1
                    # DDP all-reduces in the step's last backward; the earlier ones only accumulate.
                    sync = self.ddp.no_sync() if self.ddp is not None and not last else contextlib.nullcontext()
                    with sync:
                        with autocast(cfg.precision, self.device):
                            logits, losses = objective(part["floats"], part["ids"], part["labels"])
                        # Sum of per-frame losses / frames in the whole step: passes, micro-batches
                        # and ranks add up to the gradient of one big batch (DDP averages ranks).
                        (losses.total * (dist.world_size / step_frames)).backward()
                    metrics.update(logits, part["labels"], losses)
                    step_loss += losses.total.detach()
            self.flat.gather_grads()
            grad_norm = self.flat.clip_grad_norm_(max_norm, self.optimizer)
            if not (torch.isfinite(grad_norm) and torch.isfinite(step_loss)):
                bar.close()
                raise NonFiniteLoss(
                    f"the loss became {float(step_loss):.4g} (gradient norm {float(grad_norm):.4g}) at epoch "
                    f"{self.epoch + 1}, step {self.step + 1}, lr {self.optimizer.param_groups[0]['lr']:.3g}; "
                    "training stopped without saving that state. Try a lower --lr, --precision f32 "
                    "or --max-grad-norm."
                )
            lr = set_lr(self.optimizer, cfg.lr, self.schedule, self.step)
            self.optimizer.step()
            if first == resume_at:
                self.flat.check_views()  # once per epoch: replaced weights would silently stop training
            self.flat.zero_grad()
            self.step += 1
            if self.ema is not None:
                self.ema.update(self.model)
            if self.on_step is not None:
                self.on_step(self.step)
            bar.update(step_frames)
            if self.wandb is not None:
                self.wandb.log(
                    {"train/step_loss": float(step_loss) / step_frames * dist.world_size, "train/lr": lr,
                     "train/grad_norm": float(grad_norm)},
                    step=self.step,
                )
            if self.progress and self.step % POSTFIX_EVERY == 0:
                bar.set_postfix(loss=f"{float(step_loss) / step_frames * dist.world_size:.3f}", lr=f"{lr:.2e}")
            self.batch_in_epoch = first + len(group)
            if cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0:
                self.partial_metrics = metrics.as_tensor()
                self._save_checkpoint(status="running")
            if self.dist.any(stop.requested):
                bar.close()
                self.partial_metrics = metrics.as_tensor()
                self._save_checkpoint(status="interrupted")
                raise TrainingInterrupted(self.files.checkpoint if self.files else Path("?"))
        bar.close()
        if dist.enabled:
            metrics.load_tensor_(dist.all_reduce_sum(metrics.as_tensor()))
        return metrics

    def _eval_model(self) -> contextlib.AbstractContextManager:
        """The weights to evaluate and export: the EMA when it is on."""
        return self.ema.applied(self.model) if self.ema is not None else contextlib.nullcontext(self.model)

    def _end_epoch(self, train_metrics: MetricAccumulator, seconds: float) -> EpochRecord:
        cfg = self.cfg
        val = None
        improved = False
        if self.data.val is not None and self.data.val.num_samples > 0:
            with self._eval_model() as model:
                val = evaluate(model, self.data.val, cfg, self.dist).summary()
            improved = self.early.update(val["loss"], self.epoch)
            if improved and cfg.save_best and self.dist.is_main:
                self._export(self.files.best_policy, self.files.best_policy_meta, {"val_loss": val["loss"]})
        record = EpochRecord(
            epoch=self.epoch, step=self.step, lr=self.optimizer.param_groups[0]["lr"], seconds=seconds,
            train=train_metrics.summary(), val=val, improved=improved,
        )
        self.history.append(record)
        self._say(_epoch_line(record, cfg.epochs))
        if self.wandb is not None:
            logged = {f"train/{k}": v for k, v in record.train.items()}
            logged.update({f"val/{k}": v for k, v in (val or {}).items()})
            self.wandb.log({"epoch": self.epoch + 1, **logged}, step=self.step)
        return record

    # --- files -----------------------------------------------------------------------

    def _save_checkpoint(self, status: str) -> None:
        if not self.dist.is_main:
            return
        state = {
            "embedding_version": self.data.embedding_version,
            "backbone": self.backbone,
            "config": self.cfg.to_dict(),
            "config_hash": self.config_hash,
            "policy_config": ckpt.to_jsonable(self.policy_config),
            "feature_spec": ckpt.to_jsonable(self.data.feature_spec),
            "dataset_id": self.data.dataset_id,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "schedule": dataclasses.asdict(self.schedule),
            "step": self.step,
            "epoch": self.epoch,
            "batch_in_epoch": self.batch_in_epoch,
            "partial_metrics": self.partial_metrics,
            "rng": ckpt.rng_state(),
            "early_stopping": self.early.state_dict(),
            "best_val_loss": self.early.best if math.isfinite(self.early.best) else None,
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "history": [dataclasses.asdict(r) for r in self.history],
        }
        ckpt.save_checkpoint(self.files.checkpoint, state)
        self._write_config_json(status)

    def _export(self, weights: Path, meta: Path, extra: dict[str, Any]) -> None:
        with self._eval_model() as model:
            state = {k: v.clone() for k, v in model.state_dict().items()}
        ckpt.export_policy(
            weights, meta, state, self.policy_config, self.data.feature_spec, self.data.embedding_version,
            self.backbone,
            extra={"run": self.files.stem.name, "dataset_id": self.data.dataset_id, "config_hash": self.config_hash,
                   "step": self.step, "epoch": self.epoch, "ema": self.ema is not None, **extra},
        )

    def _write_config_json(self, status: str, result: TrainResult | None = None) -> None:
        vals = [r.val["loss"] for r in self.history if r.val]
        doc = {
            "run": self.files.stem.name,
            "status": status,
            "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "provenance": {"dataset_id": self.data.dataset_id, **self.data.provenance},
            "model": {
                "backbone": self.backbone,
                "params": self.params,
                "policy_config": ckpt.to_jsonable(self.policy_config),
                "embedding_version": self.data.embedding_version,
                "feature_spec": ckpt.to_jsonable(self.data.feature_spec),
            },
            "training": {**self.cfg.to_dict(), "config_hash": self.config_hash, "world_size": self.dist.world_size,
                         "steps_per_epoch": self.steps_per_epoch, "total_steps": self.total_steps,
                         "torch_device": str(self.device)},
            "results": {
                "epochs_run": len(self.history),
                "steps": self.step,
                "best_val_loss": min(vals) if vals else None,
                "final_val_loss": vals[-1] if vals else None,
                "history": [dataclasses.asdict(r) for r in self.history],
                **({"head_accuracy": result.head_accuracy, "stopped": result.stopped} if result else {}),
            },
            "files": {k: Path(v).name for k, v in self._file_map().items()},
        }
        from exphil_assets.atomic import write_json_atomic

        write_json_atomic(self.files.config_json, doc)

    def _file_map(self) -> dict[str, str]:
        f = self.files
        out = {"checkpoint": f.checkpoint, "policy": f.policy, "policy_meta": f.policy_meta, "config": f.config_json}
        if self.cfg.save_best and f.best_policy.exists():
            out.update(best_policy=f.best_policy, best_policy_meta=f.best_policy_meta)
        return {k: str(v) for k, v in out.items()}

    def _finish(self, stopped: str) -> TrainResult:
        last = self.history[-1] if self.history else None
        source = (last.val or last.train) if last else {}
        vals = [r.val["loss"] for r in self.history if r.val]
        if self.dist.is_main:
            self._export(self.files.policy, self.files.policy_meta, {"val_loss": vals[-1] if vals else None})
        result = TrainResult(
            files=self._file_map() if self.dist.is_main else {},
            history=self.history,
            best_val_loss=min(vals) if vals else None,
            final_val_loss=vals[-1] if vals else None,
            final_train_loss=last.train.get("loss") if last else None,
            head_accuracy={h: source[f"acc/{h}"] for h in HEADS if f"acc/{h}" in source},
            epochs_run=len(self.history),
            steps=self.step,
            params=self.params,
            config_hash=self.config_hash,
            dataset_id=self.data.dataset_id,
            stopped=stopped,
            backbone=self.backbone,
            device=str(self.device),
        )
        if self.dist.is_main:
            self._write_config_json("completed" if stopped != "callback" else "stopped", result)
            self._say(f"policy written to {self.files.policy}")
        if self.wandb is not None:
            self.wandb.summary.update({"best_val_loss": result.best_val_loss, "final_val_loss": result.final_val_loss})
            self.wandb.finish()
        return result

    # --- output ----------------------------------------------------------------------

    def _say(self, line: str) -> None:
        if self.dist.is_main and self.progress:
            tqdm.write(line)

    def _start_wandb(self) -> Any:
        if not (self.cfg.wandb and self.dist.is_main):
            return None
        import os

        import wandb

        if os.environ.get("WANDB_MODE") not in ("offline", "disabled") and not _wandb_key_available():
            # Never ask for a key: without one, log locally (sync later with `wandb sync`).
            os.environ["WANDB_MODE"] = "offline"
        return wandb.init(
            project=self.cfg.wandb_project,
            name=self.files.stem.name,
            dir=str(self.files.stem.parent),
            config={**self.cfg.to_dict(), "config_hash": self.config_hash, "dataset_id": self.data.dataset_id},
            reinit="finish_previous",
        )


def _wandb_key_available() -> bool:
    """An API key in the environment or in ~/.netrc (what `wandb login` writes)."""
    import netrc
    import os

    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        return netrc.netrc().authenticators("api.wandb.ai") is not None
    except (OSError, netrc.NetrcParseError):
        return False


def _epoch_line(r: EpochRecord, epochs: int) -> str:
    parts = [f"epoch {r.epoch + 1}/{epochs}", f"train loss {r.train.get('loss', float('nan')):.4f}"]
    src = r.train
    if r.val:
        parts.append(f"val loss {r.val['loss']:.4f}{' *' if r.improved else ''}")
        src = r.val
    accs = " ".join(f"{h} {src[f'acc/{h}']:.3f}" for h in HEADS if f"acc/{h}" in src)
    parts.append(f"{'val' if r.val else 'train'} acc: {accs}")
    parts.append(f"{r.seconds:.1f}s")
    return " | ".join(parts)


def main(argv: list[str] | None = None) -> int:
    """`python -m exphil_assets.training.loop ...` == `exphil train ...` (handy under torchrun)."""
    from exphil_assets.cli.main import main as cli_main

    return cli_main(["train", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())

