"""Benchmark the embedded dataset: build speed and peak memory, bytes per frame, and peak
memory while iterating every window of 30, 60 and 90 frames. Prints ONE JSON line.

Ingests the shared replays into a temporary data root (not timed), then runs each
measurement in its own child process and reads that child's max RSS from wait4:
- build: every ok 1v1 replay, both ports as learners (CPUs included), streaming;
- iterate W: every window of W frames of the whole dataset through `iter_batches`
  (shuffled, batch 256); memory should not depend on W (windows are views);
- frames: single frames (the MLP's path), batch 256: frames/s of batch assembly.

    python bench/dataset.py [--replays ../shared/replays] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_REPLAYS = REPO.parent / "shared" / "replays"
WINDOWS = (30, 60, 90)
BATCH = 256
CONFIG = {"dual_port": True, "human_learners_only": False, "val_split": 0.1}


def _child_build(root: str) -> dict:
    from exphil_assets.features.dataset import DatasetConfig, build_dataset

    start = time.perf_counter()
    manifest = build_dataset(root, DatasetConfig(**CONFIG), rebuild=True)
    seconds = time.perf_counter() - start
    size = sum(p.stat().st_size for p in manifest.path.iterdir())
    return {
        "path": str(manifest.path),
        "replays": len({s.sha256 for s in manifest.segments}),
        "learner_replays": manifest.learner_replays,
        "frames": manifest.frames,
        "seconds": round(seconds, 3),
        "bytes_per_frame": manifest.bytes_per_frame,
        "dataset_mb": round(size / 2**20, 2),
        "float_dim": manifest.feature_spec.float_dim,
    }


def _child_iterate(path: str, window: int | None) -> dict:
    from exphil_assets.features.windows import EmbeddedDataset

    ds = EmbeddedDataset(path, "all", window=window)
    start = time.perf_counter()
    items = 0
    for batch in ds.iter_batches(BATCH, shuffle=True, seed=0):
        items += batch["labels"].shape[0]
    seconds = time.perf_counter() - start
    w = window or 1
    return {"items": items, "seconds": round(seconds, 3), "frames_per_s": round(items * w / seconds)}


def _run_child(args: list[str]) -> tuple[dict, float]:
    """Run this script as a child with `args`; its JSON result and its peak RSS in MB."""
    proc = subprocess.Popen([sys.executable, __file__, "--child", *args], stdout=subprocess.PIPE, cwd=REPO)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"child {args} failed with exit code {proc.returncode}")
    return json.loads(out.decode().strip().splitlines()[-1]), usage.ru_maxrss / 1024  # KB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replays", default=str(DEFAULT_REPLAYS))
    parser.add_argument("--keep", default=None, help="data root to use and keep (default: a temporary one)")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        kind, *rest = args.child
        if kind == "build":
            result = _child_build(rest[0])
        else:
            result = _child_iterate(rest[0], int(rest[1]) or None)
        print(json.dumps(result))
        return

    from exphil_assets.replays.ingest import ingest_replays

    with tempfile.TemporaryDirectory(prefix="exphil-bench-dataset-") as tmp:
        root = Path(args.keep or tmp)
        ingest_replays(args.replays, root, workers=2, progress=False)
        build, build_rss = _run_child(["build", str(root)])
        iterate = {}
        for window in WINDOWS:
            result, rss = _run_child(["iterate", build["path"], str(window)])
            iterate[str(window)] = {**result, "peak_rss_mb": round(rss, 1)}
        frames, frames_rss = _run_child(["iterate", build["path"], "0"])
    rss = [v["peak_rss_mb"] for v in iterate.values()]
    spread = (max(rss) - min(rss)) / min(rss)
    print(
        json.dumps(
            {
                "bench": "dataset",
                "replays": build["replays"],
                "learner_replays": build["learner_replays"],
                "frames": build["frames"],
                "build_s": build["seconds"],
                "build_frames_per_s": round(build["frames"] / build["seconds"]),
                "build_peak_rss_mb": round(build_rss, 1),
                "build_rss_under_1gb": build_rss < 1024,
                "bytes_per_frame": build["bytes_per_frame"],
                "float_dim": build["float_dim"],
                "dataset_mb": build["dataset_mb"],
                "windows": iterate,
                "window_rss_spread_pct": round(100 * spread, 1),
                "window_rss_within_10pct": spread <= 0.10,
                "single_frame_batches": {**frames, "batch": BATCH, "peak_rss_mb": round(frames_rss, 1)},
            }
        )
    )


if __name__ == "__main__":
    main()
