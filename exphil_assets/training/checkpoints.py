"""Checkpoint files of a training run, all written atomically.

In `models_dir`, a run with stem `{backbone}_{name}_{timestamp}` writes:

    {stem}.pt                     full training state (resume continues exactly from it)
    {stem}_policy.safetensors     exported weights (EMA weights when EMA is on)
    {stem}_policy.json            PolicyConfig + FeatureSpec + embedding version + backbone
    {stem}_best_policy.*          the same, for the best validation loss (--save-best)
    {stem}_config.json            provenance (dataset, replay manifest hash, characters),
                                  model, training settings and results

The full checkpoint holds only tensors, dicts, lists and numbers, so it loads with
`torch.load(weights_only=True)`. Every file holds CPU tensors whatever device trained
it, so a GPU run's files load on a CPU-only machine and the other way round.
"""

from __future__ import annotations

import dataclasses
import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from exphil_assets.atomic import atomic_path, write_json_atomic
from exphil_assets.errors import UserError

CHECKPOINT_FORMAT = "exphil.train_checkpoint"
POLICY_FORMAT = "exphil.policy"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class RunFiles:
    """The files of one run, all derived from its stem."""

    stem: Path

    @property
    def checkpoint(self) -> Path:
        return self.stem.parent / f"{self.stem.name}.pt"

    @property
    def policy(self) -> Path:
        return self.stem.parent / f"{self.stem.name}_policy.safetensors"

    @property
    def policy_meta(self) -> Path:
        return self.stem.parent / f"{self.stem.name}_policy.json"

    @property
    def best_policy(self) -> Path:
        return self.stem.parent / f"{self.stem.name}_best_policy.safetensors"

    @property
    def best_policy_meta(self) -> Path:
        return self.stem.parent / f"{self.stem.name}_best_policy.json"

    @property
    def config_json(self) -> Path:
        return self.stem.parent / f"{self.stem.name}_config.json"


def new_run_files(models_dir: Path, backbone: str, name: str, now: datetime | None = None) -> RunFiles:
    """A fresh stem `{backbone}_{name}_{timestamp}`; a suffix keeps two runs in one second apart."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S")
    base = f"{backbone}_{name}_{stamp}"
    candidate, n = base, 1
    while any(models_dir.glob(f"{candidate}.pt")) or any(models_dir.glob(f"{candidate}_*")):
        candidate, n = f"{base}-{n}", n + 1
    return RunFiles(models_dir / candidate)


def run_files_of_checkpoint(path: str | Path) -> RunFiles:
    path = Path(path)
    return RunFiles(path.parent / path.name.removesuffix(".pt"))


# --- RNG state ------------------------------------------------------------------------


def rng_state() -> dict[str, Any]:
    """Python, numpy and torch RNG states, as plain lists and tensors."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "python": _listify(random.getstate()),
        "numpy": [kind, torch.from_numpy(np.asarray(keys, dtype=np.int64)), int(pos), int(has_gauss), float(cached)],
        "torch": torch.get_rng_state(),
        # Only once CUDA is in use: querying it would otherwise initialise it for nothing.
        **({"cuda": torch.cuda.get_rng_state_all()} if torch.cuda.is_initialized() else {}),
    }


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(_tuplify(state["python"]))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():  # a GPU run resumed on a CPU machine skips it
        for index, cuda_state in enumerate(state["cuda"][: torch.cuda.device_count()]):
            torch.cuda.set_rng_state(cuda_state, index)


def _listify(value: Any) -> Any:
    return [_listify(v) for v in value] if isinstance(value, tuple | list) else value


def _tuplify(value: Any) -> Any:
    return tuple(_tuplify(v) for v in value) if isinstance(value, list) else value


# --- full checkpoint -------------------------------------------------------------------


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write a full training checkpoint atomically (temp file, then rename)."""
    payload = to_cpu({"format": CHECKPOINT_FORMAT, "format_version": FORMAT_VERSION, **state})
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def to_cpu(value: Any) -> Any:
    """`value` with every tensor (inside dicts, lists, tuples) copied to the CPU."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, dict):
        return {k: to_cpu(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_cpu(v) for v in value]
    if isinstance(value, tuple):
        return tuple(to_cpu(v) for v in value)
    return value


def load_checkpoint(
    path: str | Path, embedding_version: Any = None, backbone: str | None = None
) -> dict[str, Any]:
    """Read a full checkpoint; a missing file, another format, embedding version or backbone is a UserError."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"checkpoint not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a truncated or foreign file
        raise UserError(f"cannot read checkpoint {path}: {exc.__class__.__name__}: {exc}") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise UserError(f"{path} is not an ExPhil training checkpoint (expected format {CHECKPOINT_FORMAT!r})")
    check_compatible(path, state, embedding_version, backbone)
    return state


def read_checkpoint_config(path: str | Path) -> dict[str, Any]:
    """The TrainConfig (as a dict) saved in a full checkpoint."""
    return dict(load_checkpoint(path)["config"])


def check_compatible(path: Path, meta: dict[str, Any], embedding_version: Any, backbone: str | None) -> None:
    if embedding_version is not None and str(meta.get("embedding_version")) != str(embedding_version):
        raise UserError(
            f"{path} was made with embedding version {meta.get('embedding_version')!r}, but the "
            f"features are now version {embedding_version!r}; retrain, or use the matching code version"
        )
    if backbone is not None and meta.get("backbone") != backbone:
        raise UserError(
            f"{path} holds a {meta.get('backbone')!r} backbone, not {backbone!r}; pick a matching --backbone"
        )


# --- exported policy -------------------------------------------------------------------


def to_jsonable(obj: Any) -> Any:
    """A config object (with to_dict, or a dataclass) as plain JSON data."""
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    if dataclasses.is_dataclass(obj):
        return json.loads(json.dumps(dataclasses.asdict(obj), default=list))
    return obj


def export_policy(
    weights_path: Path,
    meta_path: Path,
    state_dict: dict[str, torch.Tensor],
    policy_config: Any,
    feature_spec: Any,
    embedding_version: Any,
    backbone: str,
    extra: dict[str, Any] | None = None,
) -> None:
    """Write weights (safetensors) and the JSON that rebuilds the network, both atomically."""
    tensors = {k: v.detach().cpu().float().contiguous().clone() if v.is_floating_point()
               else v.detach().cpu().contiguous().clone() for k, v in state_dict.items()}
    with atomic_path(weights_path) as tmp:
        save_file(tensors, str(tmp), metadata={"format": POLICY_FORMAT, "backbone": backbone})
    meta = {
        "format": POLICY_FORMAT,
        "format_version": FORMAT_VERSION,
        "backbone": backbone,
        "embedding_version": embedding_version,
        "policy_config": to_jsonable(policy_config),
        "feature_spec": to_jsonable(feature_spec),
        "weights": weights_path.name,
        **(extra or {}),
    }
    write_json_atomic(meta_path, meta)


def policy_files(path: str | Path) -> tuple[Path, Path]:
    """(weights, meta) of a policy given either file or a stem (`..._policy` or the run stem)."""
    path = Path(path)
    name = path.name
    for suffix in (".safetensors", ".json", ".pt"):
        name = name.removesuffix(suffix)
    if not name.endswith("_policy"):
        name += "_policy"
    return path.parent / f"{name}.safetensors", path.parent / f"{name}.json"


def read_policy_meta(path: str | Path) -> dict[str, Any]:
    _, meta_path = policy_files(path)
    if not meta_path.is_file():
        raise UserError(f"policy description not found: {meta_path}")
    meta = json.loads(meta_path.read_text())
    if meta.get("format") != POLICY_FORMAT:
        raise UserError(f"{meta_path} is not an ExPhil policy description (expected format {POLICY_FORMAT!r})")
    return meta


def load_policy(
    path: str | Path,
    embedding_version: Any = None,
    backbone: str | None = None,
    device: torch.device | str = "cpu",
) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Rebuild an exported policy for inference: (Policy in eval mode on `device`, its JSON description).

    `path` is the .safetensors, the .json or their stem. Pass `embedding_version`
    (or leave None for the current features version) to refuse a policy whose
    features differ from the code's. The weights are read to the CPU, then moved.
    """
    from exphil_assets.nets.policy import Policy, PolicyConfig

    weights_path, meta_path = policy_files(path)
    meta = read_policy_meta(path)
    if embedding_version is None:
        embedding_version = current_embedding_version()
    check_compatible(meta_path, meta, embedding_version, backbone)
    if not weights_path.is_file():
        raise UserError(f"policy weights not found: {weights_path}")
    policy = Policy(PolicyConfig.from_dict(meta["policy_config"]))
    policy.load_state_dict(load_file(str(weights_path), device="cpu"))
    policy.to(device)
    policy.eval()
    return policy, meta


def current_embedding_version() -> Any:
    """The features' EMBEDDING_VERSION (None while the features module is absent)."""
    try:
        from exphil_assets.features.constants import EMBEDDING_VERSION
    except ImportError:
        return None
    return EMBEDDING_VERSION
