"""Evaluate one or more exported policies on held-out frames: the `exphil eval` pipeline.

For each policy: load it, take its held-out frames (`held_out.py`), stream
teacher-forced logits through training's loss and the metric accumulator, time
step-mode inference, record a few sample actions, read its training history.
Then, optionally, closed-loop games in the mock environment. The policies come
back ranked by held-out loss (best first) in an `EvalReport`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from exphil_assets.device import resolve_device
from exphil_assets.evaluation.closed_loop import ClosedLoopReport, run_closed_loop
from exphil_assets.evaluation.held_out import HeldOutFrames, load_held_out
from exphil_assets.evaluation.latency import (
    DEFAULT_STEPS,
    measure_step_latency,
    step_actions,
)
from exphil_assets.evaluation.metrics import STICK_HEADS, HeldOutAccumulator
from exphil_assets.evaluation.report import (
    ComparisonRow,
    EvalReport,
    LossHistory,
    PolicyEvaluation,
    PolicySummary,
    SampleAction,
)
from exphil_assets.features.constants import BUTTON_NAMES, PERCENT_SCALE, POSITION_SCALE
from exphil_assets.features.labels import decode_shoulder, decode_stick
from exphil_assets.nets.heads import CATEGORICAL_HEADS
from exphil_assets.nets.policy import Policy
from exphil_assets.rl.rollout import torch_threads
from exphil_assets.training.checkpoints import load_policy, policy_files
from exphil_assets.training.loss import imitation_loss

EVAL_FRAMES_PER_BATCH = 8192  # frames per forward pass: bounded memory, few Python steps
SAMPLE_FRAMES = 600  # frames of one game stepped through for the sample actions (10 s)
SAMPLE_COUNT = 8  # sample actions shown per policy
# Training settings worth showing in the report (the rest stays in the JSON of the run).
TRAINING_KEYS = (
    "preset", "epochs", "batch_size", "lr", "lr_schedule", "max_files", "val_split", "temporal",
    "window_size", "label_smoothing", "mirror_prob", "precision", "seed", "config_hash",
)  # fmt: skip
PPO_KEYS = ("timesteps", "env", "opponent", "num_envs", "lr", "gamma", "kl_coef", "ent_coef", "seed")
# State features shown next to sample actions: (feature name, label, scale back to game units).
SAMPLE_STATE_FEATURES = (
    ("ego_percent", "ego %", PERCENT_SCALE),
    ("opp_percent", "opp %", PERCENT_SCALE),
    ("ego_x", "ego x", POSITION_SCALE),
    ("ego_y", "ego y", POSITION_SCALE),
    ("distance", "distance", POSITION_SCALE),
)


@dataclass
class EvalOptions:
    """Knobs of `evaluate_policies` (the CLI exposes the common ones)."""

    max_files: int | None = None
    """use at most this many replays of the held-out source (None: all)"""
    split: str = "val"
    """which split of the policy's own dataset to evaluate on (with --data)"""
    closed_loop_games: int = 0
    """games per matchup in the mock environment (0: skip closed-loop evaluation)"""
    closed_loop_max_frames: int = 3600
    """frames per closed-loop game before it is called (a draw unless stocks differ)"""
    latency_steps: int = DEFAULT_STEPS
    """timed step-mode inference calls per policy (0: skip latency)"""
    batch_frames: int = EVAL_FRAMES_PER_BATCH
    """frames per teacher-forced forward pass"""
    progress: bool = True
    """tqdm progress bars"""
    seed: int = 0
    """seed of the closed-loop games"""
    threads: int | None = None
    """torch CPU threads for the held-out pass (None: torch's default; 1 is faster on a busy machine)"""
    device: str = "auto"
    """torch device of the policies: auto (cuda if available, else cpu), cpu, cuda or cuda:N
    (held-out pass, latency and closed-loop games all run there)"""


def evaluate_policies(
    policy_paths: Sequence[str | Path],
    data_root: str | Path | None = None,
    replays: str | Path | None = None,
    options: EvalOptions | None = None,
) -> EvalReport:
    """Evaluate every policy and rank them by held-out loss (best first).

    Held-out frames: with `replays`, every replay of that folder (ingested into
    `data_root`); otherwise the `options.split` split of each policy's own dataset
    config in `data_root`.
    """
    options = options or EvalOptions()
    if not policy_paths:
        from exphil_assets.errors import UserError

        raise UserError("no policy given: pass --policy PATH (one or more)")
    device = resolve_device(options.device)
    loaded = [(Path(p), *load_policy(p, device=device)) for p in policy_paths]
    evaluations: list[PolicyEvaluation] = []
    sources = []
    for path, policy, meta in loaded:
        config = read_run_config(path, meta)
        frames = load_held_out(
            policy,
            meta,
            config,
            data_root,
            replays,
            options.max_files,
            options.split,
            path.name,
            options.progress,
        )
        sources.append(frames.source)
        evaluations.append(evaluate_policy(path, policy, meta, config, frames, options))
    order = sorted(range(len(evaluations)), key=lambda i: _rank_key(evaluations[i]))
    evaluations = [evaluations[i] for i in order]
    policies = {e.summary.name: loaded[i][1] for e, i in zip(evaluations, order, strict=True)}
    closed = None
    if options.closed_loop_games > 0:
        closed = run_closed_loop(
            policies,
            options.closed_loop_games,
            options.closed_loop_max_frames,
            options.seed,
            options.progress,
        )
    return EvalReport(
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        data=sources[order[0]],
        policies=evaluations,
        comparison=comparison_rows(evaluations, closed),
        closed_loop=closed,
        device=str(device),
    )


def _rank_key(e: PolicyEvaluation) -> tuple[bool, float]:
    loss = e.metrics.loss
    return (loss is None, loss if loss is not None else 0.0)


def read_run_config(path: Path, meta: dict[str, Any]) -> dict[str, Any]:
    """The run's ..._config.json beside the policy ({} where there is none)."""
    weights, _ = policy_files(path)
    run = meta.get("run") or weights.name.removesuffix("_policy.safetensors").removesuffix("_best")
    config_path = weights.parent / f"{run}_config.json"
    if not config_path.is_file():
        return {}
    return json.loads(config_path.read_text())


def loss_history(config: dict[str, Any]) -> LossHistory:
    """Per-epoch train and validation loss from the run's results.history (epochs 1-based)."""
    history = (config.get("results") or {}).get("history") or []
    out = LossHistory()
    for record in history:
        out.epochs.append(int(record["epoch"]) + 1)
        out.train_loss.append((record.get("train") or {}).get("loss"))
        out.val_loss.append((record.get("val") or {}).get("loss"))
    return out


def policy_summary(path: Path, policy: Policy, meta: dict[str, Any], config: dict[str, Any]) -> PolicySummary:
    weights, _ = policy_files(path)
    spec = dict(meta.get("feature_spec") or {})
    names = spec.pop("float_names", None)
    if names is not None:
        spec["float_names"] = f"{len(names)} features: {', '.join(names[:4])}, ..."
    training = config.get("training") or {}
    shown = {k: training[k] for k in TRAINING_KEYS if k in training}
    if "ppo" in config:  # a PPO fine-tune: its RL settings and the imitation policy it started from
        shown["kind"] = "ppo"
        shown["pretrained"] = (config.get("provenance") or {}).get("pretrained")
        shown |= {k: config["ppo"][k] for k in PPO_KEYS if k in config["ppo"]}
    results = config.get("results") or {}
    for key in ("epochs_run", "steps", "best_val_loss", "final_val_loss", "stopped"):
        if key in results:
            shown[key] = results[key]
    if "dataset_id" in (config.get("provenance") or {}):
        shown["dataset_id"] = config["provenance"]["dataset_id"]
    return PolicySummary(
        name=weights.name.removesuffix(".safetensors").removesuffix("_policy"),
        path=str(weights),
        backbone=str(meta.get("backbone", policy.config.backbone)),
        parameters=sum(p.numel() for p in policy.parameters()),
        policy_config=policy.config.to_dict(),
        feature_spec=spec | {"embedding_version": meta.get("embedding_version")},
        training=shown,
        architecture=repr(policy),
    )


@torch.inference_mode()
def held_out_metrics(
    policy: Policy, frames: HeldOutFrames, batch_frames: int = EVAL_FRAMES_PER_BATCH, progress: bool = False
) -> HeldOutAccumulator:
    """Stream teacher-forced logits over every held-out window into an accumulator."""
    window = frames.window_for(policy)
    acc = HeldOutAccumulator()
    policy.eval()
    device = next(policy.parameters()).device
    batches = frames.batches(window, batch_frames)
    total = frames.num_batches(window, batch_frames)
    for batch in tqdm(batches, total=total, desc="eval", unit="batch", disable=not progress, leave=False):
        batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
        logits, _ = policy(batch["floats"], batch["ids"], batch["labels"])
        acc.update(logits, batch["labels"])
        acc.add_loss(imitation_loss(logits, batch["labels"]))
    return acc


def evaluate_policy(
    path: Path,
    policy: Policy,
    meta: dict[str, Any],
    config: dict[str, Any],
    frames: HeldOutFrames,
    options: EvalOptions,
) -> PolicyEvaluation:
    """Metrics, latency, samples and history of one policy on its held-out frames."""
    start = time.perf_counter()
    with torch_threads(options.threads):
        metrics = held_out_metrics(policy, frames, options.batch_frames, options.progress).result()
    seconds = time.perf_counter() - start
    floats, ids, labels = frames.sequence(SAMPLE_FRAMES)
    latency = None
    if options.latency_steps > 0:
        latency = measure_step_latency(policy, floats, ids, steps=options.latency_steps)
    return PolicyEvaluation(
        summary=policy_summary(path, policy, meta, config),
        metrics=metrics,
        latency=latency,
        history=loss_history(config),
        samples=sample_actions(policy, floats, ids, labels, frames.float_names),
        eval_seconds=seconds,
        frames_per_second=metrics.frames / seconds if seconds > 0 else 0.0,
    )


def describe_action(action: np.ndarray) -> dict[str, Any]:
    """One label-layout action [13] in controller terms."""
    return {
        "buttons": [name for name, bit in zip(BUTTON_NAMES, action[:8], strict=True) if bit],
        "main": [float(decode_stick(action[8])), float(decode_stick(action[9]))],
        "c": [float(decode_stick(action[10])), float(decode_stick(action[11]))],
        "shoulder": float(decode_shoulder(action[12])),
    }


def sample_actions(
    policy: Policy,
    floats: torch.Tensor,
    ids: torch.Tensor,
    labels: torch.Tensor,
    float_names: Sequence[str],
    count: int = SAMPLE_COUNT,
) -> list[SampleAction]:
    """Step through the frames as in live play and keep `count` evenly spaced (state, human, model)."""
    if floats.shape[0] == 0:
        return []
    actions = step_actions(policy, floats, ids)
    picks = np.linspace(0, floats.shape[0] - 1, num=min(count, floats.shape[0])).astype(int)
    index = {name: i for i, name in enumerate(float_names)}
    samples = []
    for row in picks:
        human, model = labels[row].numpy(), actions[row]
        matches = {"buttons": bool((human[:8] == model[:8]).all())}
        matches |= {name: bool(human[col] == model[col]) for name, col, _ in CATEGORICAL_HEADS}
        state = {
            label: round(float(floats[row, index[name]]) * scale, 1)
            for name, label, scale in SAMPLE_STATE_FEATURES
            if name in index
        }
        samples.append(SampleAction(int(row), describe_action(human), describe_action(model), matches, state))
    return samples


def comparison_rows(
    evaluations: Sequence[PolicyEvaluation], closed: ClosedLoopReport | None
) -> list[ComparisonRow]:
    """The backbone comparison table, in the (already ranked) order of `evaluations`."""
    rows = []
    for rank, e in enumerate(evaluations, start=1):
        m = e.metrics
        rows.append(
            ComparisonRow(
                rank=rank,
                name=e.summary.name,
                backbone=e.summary.backbone,
                parameters=e.summary.parameters,
                val_loss=m.loss,
                button_accuracy=m.buttons.accuracy,
                head_accuracies=dict(m.head_accuracies),
                stick_top3_mean=float(np.mean([m.heads[h].top3_accuracy or 0.0 for h in STICK_HEADS])),
                stick_ece_mean=float(np.mean([m.heads[h].ece for h in STICK_HEADS])),
                latency_p99_ms=e.latency.p99_ms if e.latency else None,
                fps60_capable=e.latency.fps60_capable if e.latency else None,
                win_rate=closed.win_rate(e.summary.name) if closed else None,
            )
        )
    return rows


__all__ = [
    "EvalOptions",
    "evaluate_policies",
    "evaluate_policy",
    "held_out_metrics",
    "loss_history",
]
