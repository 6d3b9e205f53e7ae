"""The one config type of imitation training, and how it is resolved.

Every option of the training guide is a field of `TrainConfig`, with the guide's
default and a one-line docstring. `resolve_config` is the one place that applies
the precedence defaults < preset < explicit flags, and validates the result.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any, get_type_hints

from exphil_assets.device import check_device_name
from exphil_assets.errors import UserError

# Backbones the training loop knows about; `nets.registry.BACKBONES` is the source
# of truth once it exists, this tuple only spares `config` an import of torch.
KNOWN_BACKBONES: tuple[str, ...] = ("mlp", "lstm", "gru", "mamba", "sliding_window", "hybrid")
TEMPORAL_DEFAULT_BACKBONE = "lstm"  # the guide's default for --temporal without --backbone
TRUNCATABLE_BACKBONES: tuple[str, ...] = ("lstm", "gru", "mamba")  # a recurrent state to detach
LR_SCHEDULES: tuple[str, ...] = ("constant", "cosine", "linear", "exponential", "cosine_restarts")
PRECISIONS: tuple[str, ...] = ("bf16", "f32")
ACTIVATIONS: tuple[str, ...] = ("gelu", "relu")  # nets.activation.ACTIVATIONS, without importing torch


@dataclass
class TrainConfig:
    """Every option of `exphil train` (the training guide's tables, plus a few of ours)."""

    # --- data ---------------------------------------------------------------------------
    replays: str | None = None
    """directory of .slp files to ingest first (None: train on what the data root already holds)"""
    data: str | None = None
    """data root (None: $EXPHIL_DATA, else ./data)"""
    max_files: int | None = None
    """use at most this many replays (None: all)"""
    player_port: int = 1
    """which port to learn from (1-4); replays without a player there are skipped"""
    train_character: str | None = None
    """learn from the port that plays this character (e.g. 'mewtwo'); overrides player_port"""
    dual_port: bool = False
    """learn from both players of each game (two samples per frame)"""
    frame_delay: int = 0
    """simulated online delay: the state is this many frames older than the label"""
    val_split: float = 0.0
    """fraction of replays held out for validation (0.1 = 10%)"""
    workers: int = 1
    """processes for ingesting replays and building the dataset"""

    # --- model --------------------------------------------------------------------------
    hidden: tuple[int, ...] = (512, 512)
    """hidden layer sizes (the MLP's layers; a temporal backbone uses the first as its width)"""
    dropout: float = 0.1
    """dropout rate"""
    activation: str = "gelu"
    """gelu or relu (the original ExPhil's; ~7% faster on a CPU): the encoder's, MLP layers' and heads' activation"""
    temporal: bool = False
    """train on windows of frames (sequence to sequence) instead of single frames"""
    backbone: str | None = None
    """mlp, lstm, gru, mamba, sliding_window, hybrid (None: mlp, or lstm with --temporal)"""
    window_size: int = 60
    """frames per training window (temporal)"""
    stride: int = 1
    """step between window starts (temporal)"""
    truncate_bptt: int | None = None
    """detach the recurrent state every N frames of a window (lstm, gru, mamba)"""
    state_size: int = 16
    """SSM state dimension (mamba)"""
    expand_factor: int = 2
    """inner expansion factor (mamba)"""
    conv_size: int = 4
    """causal convolution kernel size (mamba)"""
    num_layers: int = 2
    """number of stacked backbone layers (temporal)"""

    # --- optimisation -------------------------------------------------------------------
    epochs: int = 10
    """number of training epochs"""
    batch_size: int = 64
    """samples per optimiser micro-batch (frames for the MLP, windows when temporal)"""
    accumulation_steps: int = 1
    """micro-batches summed into one optimiser step (effective batch = batch_size x this)"""
    # 64 windows of 30 frames: ~0.2 GB of saved activations for Mamba 256 in f32, for any window.
    max_frames_per_pass: int = 1920
    """frames (samples x window) per forward/backward; larger micro-batches run in several passes, same gradient"""
    lr: float = 1e-4
    """peak learning rate (AdamW)"""
    weight_decay: float = 0.01
    """AdamW decoupled weight decay"""
    max_grad_norm: float | None = 1.0
    """clip the global gradient norm to this (None: no clipping)"""
    lr_schedule: str = "constant"
    """constant, cosine, linear, exponential or cosine_restarts"""
    warmup_steps: int = 0
    """optimiser steps of linear warmup from 0 to lr"""
    decay_steps: int | None = None
    """optimiser step at which the decay ends (None: the total number of steps)"""
    min_lr_ratio: float = 0.0
    """lr at the end of a cosine/linear decay, as a fraction of lr"""
    exp_decay_rate: float = 0.01
    """lr multiplier an exponential decay reaches at decay_steps"""
    restart_steps: int | None = None
    """cycle length of cosine_restarts (None: a quarter of the decay span)"""
    label_smoothing: float = 0.0
    """label smoothing of the five categorical heads (sticks, shoulder)"""
    ema_decay: float | None = None
    """per-step exponential moving average of the weights (None: off); evaluation and export use it"""
    mirror_prob: float = 0.0
    """probability of mirroring a sample left-right (x, facing, horizontal speeds, stick-x labels)"""
    noise_prob: float = 0.0
    """probability of adding Gaussian noise to a sample's positions and speeds"""
    noise_scale: float = 0.01
    """standard deviation of that noise, in feature units"""
    precision: str = "bf16"
    """bf16 (autocast, fp32 master weights and loss) or f32 (exact)"""
    seed: int = 0
    """seed of the weights, the data order, dropout and augmentation"""
    threads: int | None = None
    """torch CPU threads (None: torch's default; 1 is faster for small models on a busy machine)"""
    device: str = "auto"
    """torch device: auto (cuda if available, else cpu), cpu, cuda or cuda:N"""

    # --- stopping and checkpoints --------------------------------------------------------
    early_stopping: bool = False
    """stop when the validation loss has not improved for `patience` epochs"""
    patience: int = 5
    """epochs without improvement before early stopping"""
    min_delta: float = 0.01
    """smallest decrease of the validation loss that counts as an improvement"""
    save_best: bool = False
    """export the policy each time the validation loss improves (by min_delta)"""
    resume: str | None = None
    """full checkpoint (.pt) to continue from, exactly"""
    checkpoint_every: int | None = None
    """also write the full checkpoint every N optimiser steps (None: at each epoch end)"""
    models_dir: str | None = None
    """where checkpoints go (None: $EXPHIL_MODELS, else ./models)"""
    name: str = "imitation"
    """run name, the middle of the checkpoint stem {backbone}_{name}_{timestamp}"""

    # --- monitoring ---------------------------------------------------------------------
    wandb: bool = False
    """log to Weights & Biases (WANDB_MODE=offline works without a key)"""
    wandb_project: str = "exphil"
    """W&B project name"""

    @property
    def resolved_backbone(self) -> str:
        """The backbone actually trained: the guide's defaults fill a missing --backbone."""
        if self.backbone:
            return self.backbone
        return TEMPORAL_DEFAULT_BACKBONE if self.temporal else "mlp"

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict (tuples become lists)."""
        out = dataclasses.asdict(self)
        out["hidden"] = list(self.hidden)
        return out


# Fields that change neither the model nor the data, so they stay out of the config hash
# and may differ between a run and its resumption.
_RUN_ONLY_FIELDS = frozenset(
    {"replays", "data", "workers", "resume", "models_dir", "wandb", "wandb_project", "checkpoint_every", "threads",
     "device"}
)

# Fields that define the network or its inputs: a resumed run must keep them.
ARCHITECTURE_FIELDS: tuple[str, ...] = (
    "hidden", "temporal", "backbone", "window_size", "state_size", "expand_factor",
    "conv_size", "num_layers", "dropout", "activation",
)


def config_fields() -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(TrainConfig)}


def field_types() -> dict[str, Any]:
    """Resolved type hints of every TrainConfig field (strings under `from __future__`)."""
    return get_type_hints(TrainConfig)


def field_docs() -> dict[str, str]:
    """The one-line docstring of each field, read from this file's source (for --help)."""
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(TrainConfig))
    body = tree.body[0].body  # type: ignore[attr-defined]
    docs: dict[str, str] = {}
    for node, nxt in zip(body, body[1:], strict=False):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            if isinstance(nxt, ast.Expr) and isinstance(getattr(nxt, "value", None), ast.Constant):
                docs[node.target.id] = str(nxt.value.value)
    return docs


def _coerce(name: str, value: Any) -> Any:
    """Turn a flag/YAML value into the field's type, or raise UserError naming the option."""
    hint = field_types()[name]
    text = str(hint)
    if value is None:
        if "None" in text:
            return None
        raise UserError(f"option {name!r} cannot be empty")
    try:
        if name == "hidden":
            if isinstance(value, str):
                parts = [p for p in value.replace(" ", "").split(",") if p]
            elif isinstance(value, int):
                parts = [value]
            else:
                parts = list(value)
            sizes = tuple(int(p) for p in parts)
            if not sizes or any(s <= 0 for s in sizes):
                raise ValueError
            return sizes
        if hint is bool or text == "bool":
            if isinstance(value, str):
                low = value.lower()
                if low in ("1", "true", "yes", "on"):
                    return True
                if low in ("0", "false", "no", "off"):
                    return False
                raise ValueError
            if isinstance(value, bool | int):
                return bool(value)
            raise ValueError
        if "int" in text and "float" not in text:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(value)
        if "float" in text:
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if "str" in text:
            return str(value)
    except (TypeError, ValueError):
        raise UserError(f"option {name!r}: invalid value {value!r} (expected {text})") from None
    return value


def _validate(cfg: TrainConfig) -> None:
    """Raise UserError naming the first option whose value makes no sense."""

    def bad(option: str, why: str) -> UserError:
        return UserError(f"option {option!r}: {why} (got {getattr(cfg, option)!r})")

    for name in ("epochs", "batch_size", "accumulation_steps", "max_frames_per_pass", "window_size", "stride",
                 "patience", "state_size", "expand_factor", "conv_size", "num_layers", "workers"):
        if getattr(cfg, name) < 1:
            raise bad(name, "must be at least 1")
    for name in ("max_files", "truncate_bptt", "decay_steps", "checkpoint_every", "restart_steps", "threads"):
        value = getattr(cfg, name)
        if value is not None and value < 1:
            raise bad(name, "must be at least 1")
    if cfg.lr <= 0:
        raise bad("lr", "must be positive")
    if cfg.warmup_steps < 0:
        raise bad("warmup_steps", "must be >= 0")
    if cfg.frame_delay < 0:
        raise bad("frame_delay", "must be >= 0")
    if cfg.weight_decay < 0:
        raise bad("weight_decay", "must be >= 0")
    if cfg.max_grad_norm is not None and cfg.max_grad_norm <= 0:
        raise bad("max_grad_norm", "must be positive")
    if cfg.player_port not in (1, 2, 3, 4):
        raise bad("player_port", "must be 1, 2, 3 or 4")
    for name in ("dropout", "mirror_prob", "noise_prob", "label_smoothing", "min_lr_ratio"):
        if not 0.0 <= getattr(cfg, name) <= 1.0:
            raise bad(name, "must be in [0, 1]")
    if not 0.0 <= cfg.val_split < 1.0:
        raise bad("val_split", "must be in [0, 1)")
    if not 0.0 < cfg.exp_decay_rate <= 1.0:
        raise bad("exp_decay_rate", "must be in (0, 1]")
    if cfg.noise_scale < 0:
        raise bad("noise_scale", "must be >= 0")
    if cfg.min_delta < 0:
        raise bad("min_delta", "must be >= 0")
    if cfg.ema_decay is not None and not 0.0 < cfg.ema_decay < 1.0:
        raise bad("ema_decay", "must be in (0, 1)")
    if cfg.lr_schedule not in LR_SCHEDULES:
        raise bad("lr_schedule", f"must be one of {', '.join(LR_SCHEDULES)}")
    if cfg.activation not in ACTIVATIONS:
        raise bad("activation", f"must be one of {', '.join(ACTIVATIONS)}")
    if cfg.precision not in PRECISIONS:
        raise bad("precision", f"must be one of {', '.join(PRECISIONS)}")
    check_device_name(cfg.device)
    if cfg.backbone is not None:
        if cfg.backbone not in KNOWN_BACKBONES:
            raise bad("backbone", f"must be one of {', '.join(KNOWN_BACKBONES)}")
        if cfg.backbone != "mlp" and not cfg.temporal:
            raise bad("backbone", "is a temporal backbone; add --temporal")
        if cfg.backbone == "mlp" and cfg.temporal:
            raise bad("backbone", "mlp is single-frame; drop --temporal or pick a temporal backbone")
    if cfg.temporal and cfg.max_frames_per_pass < cfg.window_size:
        # A pass holds whole windows: splitting one would cut its recurrence and attention.
        raise bad("max_frames_per_pass", f"must be at least window_size ({cfg.window_size}): a window is never split")
    if cfg.truncate_bptt is not None and cfg.resolved_backbone not in TRUNCATABLE_BACKBONES:
        # Attention (sliding_window, hybrid) sees the whole window at once: there is no
        # recurrent state to detach between chunks, so the option would do nothing.
        raise bad("truncate_bptt", f"applies to {', '.join(TRUNCATABLE_BACKBONES)} only")
    if cfg.early_stopping and cfg.val_split == 0:
        raise bad("early_stopping", "needs a validation set: set --val-split > 0")
    if cfg.save_best and cfg.val_split == 0:
        raise bad("save_best", "needs a validation set: set --val-split > 0")
    if cfg.decay_steps is not None and cfg.decay_steps <= cfg.warmup_steps and cfg.lr_schedule != "constant":
        raise bad("decay_steps", f"must exceed warmup_steps ({cfg.warmup_steps})")
    if not cfg.name or any(c in cfg.name for c in "/\\ "):
        raise bad("name", "must be a non-empty name without slashes or spaces")


def apply_overrides(cfg: TrainConfig, overrides: dict[str, Any], source: str) -> TrainConfig:
    """Return `cfg` with `overrides` applied; an unknown key raises UserError naming it."""
    known = config_fields()
    values = {}
    for key, value in overrides.items():
        name = key.replace("-", "_")
        if name not in known:
            raise UserError(f"unknown option {key!r} in {source}")
        values[name] = _coerce(name, value)
    return dataclasses.replace(cfg, **values)


def resolve_config(preset: str | None, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """Defaults < preset < explicit flags, validated.

    `overrides` holds only the options the user gave explicitly. Resuming keeps the
    checkpoint's settings unless a flag overrides them: defaults < preset <
    checkpoint < explicit flags.
    """
    from exphil_assets.training.presets import PRESETS

    overrides = dict(overrides or {})
    cfg = TrainConfig()
    if preset is not None:
        if preset not in PRESETS:
            raise UserError(f"unknown preset {preset!r} (choose from {', '.join(PRESETS)})")
        cfg = apply_overrides(cfg, PRESETS[preset], f"preset {preset!r}")
    resume = overrides.get("resume")
    if resume:
        from exphil_assets.training.checkpoints import read_checkpoint_config

        saved = {k: v for k, v in read_checkpoint_config(resume).items() if k in config_fields()}
        cfg = apply_overrides(cfg, saved, f"checkpoint {resume}")
    cfg = apply_overrides(cfg, overrides, "the options")
    _validate(cfg)
    return cfg


def config_hash(cfg: TrainConfig) -> str:
    """Short hash of everything that shapes the trained weights (not paths or logging)."""
    payload = {k: v for k, v in cfg.to_dict().items() if k not in _RUN_ONLY_FIELDS}
    payload["backbone"] = cfg.resolved_backbone
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def config_from_dict(values: dict[str, Any]) -> TrainConfig:
    """Rebuild a TrainConfig saved by `to_dict` (unknown keys from newer versions are ignored)."""
    known = config_fields()
    return apply_overrides(TrainConfig(), {k: v for k, v in values.items() if k in known}, "saved config")


__all__ = [
    "ARCHITECTURE_FIELDS",
    "KNOWN_BACKBONES",
    "LR_SCHEDULES",
    "TrainConfig",
    "apply_overrides",
    "config_from_dict",
    "config_hash",
    "field_docs",
    "resolve_config",
]
