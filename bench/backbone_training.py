"""Backbones trained for real on the shared replays: peak memory by window, and val loss.

Two measurements, one JSON line each:

- `memory`: the guide's "Full" memory config (mamba, hidden 256, window W, 10 files,
  batch 64) trained for one epoch in a child process per window (30, 60, 90); peak
  RSS of that process. Windows are views into the memory-mapped dataset, so the data
  costs the same for every W; the activations would grow with W (64 x W frames), but
  training runs each batch in passes of at most --max-frames-per-pass frames (default
  1,920), so they should not. The bench also runs each window with the same frames
  per batch (3,840 = 64 x 60: batch 128, 64 and 42).
- `val_loss`: all six backbones trained for the same epochs on the same files and
  the same validation split (by replay hash); the val loss of each.

    python bench/backbone_training.py [--replays ../shared/replays] [--skip-memory] [--skip-val]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from exphil_assets.nets.registry import BACKBONES  # noqa: E402

MEMORY_CONFIG = {"temporal": True, "backbone": "mamba", "hidden": "256", "num_layers": 2, "batch_size": 64,
                 "max_files": 10, "stride": 60, "epochs": 1, "precision": "f32"}  # fmt: skip
BATCH_FRAMES = 64 * 60
# Same optimiser budget for every backbone: each training frame once per epoch (stride = window) and
# the same frames per optimiser step (8 windows of 60 = 480 MLP frames), so the backbones differ only
# in what they see of the past. (With batch 64 for all, the MLP took 60x more steps per epoch.)
VAL_CONFIG = {"hidden": "128", "num_layers": 2, "window_size": 60, "stride": 60, "epochs": 10, "max_files": 16,
              "val_split": 0.25, "lr": 3e-3, "precision": "f32", "dropout": 0.0, "seed": 0}  # fmt: skip
VAL_WINDOWS_PER_STEP = 8


def train_once(data_root: Path, models: Path, options: dict) -> dict:
    from exphil_assets.training.config import resolve_config
    from exphil_assets.training.loop import train

    cfg = resolve_config(None, {"models_dir": str(models), **options})
    start = time.perf_counter()
    result = train(cfg, data_root, progress=False)
    frames = sum(r.train["frames"] for r in result.history)
    return {"result": result, "seconds": time.perf_counter() - start, "frames": frames}


def memory_child(data_root: Path, models: Path, window: int, batch: int) -> None:
    out = train_once(data_root, models, {**MEMORY_CONFIG, "window_size": window, "batch_size": batch})
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"window": window, "batch": batch, "peak_rss_mb": round(peak_mb, 1), "train_frames": int(out["frames"]),
                      "seconds": round(out["seconds"], 1)}))  # fmt: skip


def _memory_runs(data_root: Path, models: Path, batches: dict[int, int]) -> dict:
    rows = []
    for window, batch in batches.items():
        child = subprocess.run(
            [sys.executable, __file__, "--child-memory", str(window), "--batch", str(batch),
             "--data", str(data_root), "--models", str(models)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        rows.append(json.loads(child.stdout.strip().splitlines()[-1]))
    peaks = [r["peak_rss_mb"] for r in rows]
    spread = (max(peaks) - min(peaks)) / min(peaks) * 100
    return {"windows": rows, "max_peak_rss_mb": max(peaks), "spread_pct": round(spread, 1),
            "within_10pct": spread <= 10}  # fmt: skip


def bench_memory(data_root: Path, models: Path) -> dict:
    same_windows = _memory_runs(data_root, models, {30: 64, 60: 64, 90: 64})
    same_frames = _memory_runs(data_root, models, {w: BATCH_FRAMES // w for w in (30, 60, 90)})
    window60 = next(r for r in same_windows["windows"] if r["window"] == 60)["peak_rss_mb"]
    return {"bench": "backbone_memory", "config": MEMORY_CONFIG, "full_config_w60_peak_rss_mb": window60,
            "full_config_under_1gb": window60 < 1024, "batch_64_windows": same_windows,
            "batch_3840_frames": same_frames}  # fmt: skip


def bench_val_loss(data_root: Path, models: Path) -> dict:
    losses = {}
    for backbone in BACKBONES:
        temporal = backbone != "mlp"
        batch = VAL_WINDOWS_PER_STEP if temporal else VAL_WINDOWS_PER_STEP * VAL_CONFIG["window_size"]
        options = {**VAL_CONFIG, "backbone": backbone, "temporal": temporal, "batch_size": batch}
        out = train_once(data_root, models, options)
        result = out["result"]
        losses[backbone] = {"val_loss": round(result.final_val_loss, 4), "best_val_loss": round(result.best_val_loss, 4),
                            "epochs": result.epochs_run, "steps": result.steps,
                            "train_frames": int(out["frames"]), "seconds": round(out["seconds"], 1)}  # fmt: skip
    best_temporal = min(v["val_loss"] for k, v in losses.items() if k != "mlp")
    return {"bench": "backbone_val_loss", "config": VAL_CONFIG, "backbones": losses,
            "temporal_beats_mlp": best_temporal < losses["mlp"]["val_loss"]}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replays", default=str(REPO.parent / "shared" / "replays"))
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--skip-val", action="store_true")
    parser.add_argument("--child-memory", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--models", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_memory:
        memory_child(Path(args.data), Path(args.models), args.child_memory, args.batch)
        return 0
    from exphil_assets.replays.ingest import ingest_replays

    with tempfile.TemporaryDirectory(prefix="exphil-bench-backbones-") as tmp:
        data_root, models = Path(tmp) / "data", Path(tmp) / "models"
        ingest_replays(args.replays, data_root, workers=2, progress=False)
        if not args.skip_memory:
            print(json.dumps(bench_memory(data_root, models)), flush=True)
        if not args.skip_val:
            print(json.dumps(bench_val_loss(data_root, models)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
