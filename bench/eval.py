"""Benchmark `exphil eval`: held-out throughput over the validation frames of the shared replays.

Ingests the shared replays into a data root (a temporary one unless --data names
one already holding them), builds the dataset with --val-split (by file hash, as
training does), exports an untrained policy of --backbone (weights do not change
the cost) whose run records that dataset, and evaluates it on its validation split.
Prints ONE JSON line: eval_frames_per_s (teacher-forced forward + loss + every
metric, frames / seconds over all validation frames), the report size in bytes,
and the step-mode latency of the same run.

    python bench/eval.py [--data DIR] [--backbone mlp] [--val-split 0.1] [--hidden 64] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import torch

from exphil_assets.evaluation.evaluate import EvalOptions, evaluate_policies
from exphil_assets.evaluation.report_html import write_report_html
from exphil_assets.features.constants import EMBEDDING_VERSION
from exphil_assets.features.dataset import DatasetConfig, build_dataset
from exphil_assets.nets.policy import Policy, PolicyConfig
from exphil_assets.replays.ingest import ingest_replays
from exphil_assets.training.checkpoints import export_policy

SHARED_REPLAYS = Path(
    os.environ.get("EXPHIL_SHARED_REPLAYS", Path(__file__).resolve().parents[2] / "shared" / "replays")
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="data root (default: a temporary one)")
    parser.add_argument("--backbone", default="mlp")
    parser.add_argument("--hidden", type=int, default=64, help="model width (the standard preset's)")
    parser.add_argument("--window", type=int, default=60, help="window of a temporal backbone")
    parser.add_argument("--val-split", type=float, default=0.1)
    parser.add_argument("--latency-steps", type=int, default=300)
    parser.add_argument("--threads", type=int, help="torch threads for the held-out pass (default: torch's)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="exphil-bench-eval-") as tmp:
        data_root = Path(args.data) if args.data else Path(tmp) / "data"
        start = time.perf_counter()
        ingest_replays(SHARED_REPLAYS, data_root, workers=max(1, min(os.cpu_count() or 1, 8)), progress=False)
        manifest = build_dataset(data_root, DatasetConfig(val_split=args.val_split))
        prepare_s = time.perf_counter() - start

        spec = manifest.feature_spec
        config = PolicyConfig(
            spec.float_dim, spec.id_vocab_sizes, backbone=args.backbone, hidden=(args.hidden, args.hidden),
            window_size=args.window,
        )  # fmt: skip
        stem = Path(tmp) / "models" / f"{args.backbone}_bench_20260101T000000"
        weights = Path(f"{stem}_policy.safetensors")
        export_policy(
            weights, Path(f"{stem}_policy.json"), Policy(config).state_dict(), config, spec, EMBEDDING_VERSION,
            args.backbone, extra={"run": stem.name},
        )  # fmt: skip
        run = {
            "provenance": {"dataset_id": manifest.dataset_id},
            "training": {"temporal": args.backbone != "mlp"},
        }
        Path(f"{stem}_config.json").write_text(json.dumps(run))

        start = time.perf_counter()
        options = EvalOptions(latency_steps=args.latency_steps, threads=args.threads, progress=False)
        report = evaluate_policies([weights], data_root=data_root, options=options)
        total_s = time.perf_counter() - start
        html = write_report_html(report, Path(tmp) / "report.html")
        (evaluation,) = report.policies
        print(
            json.dumps(
                {
                    "bench": "eval",
                    "backbone": args.backbone,
                    "hidden": args.hidden,
                    "val_files": report.data.files,
                    "val_frames": report.data.frames,
                    "eval_frames_per_s": round(evaluation.frames_per_second, 1),
                    "eval_seconds": round(evaluation.eval_seconds, 3),
                    "evaluate_total_seconds": round(total_s, 3),
                    "prepare_seconds": round(prepare_s, 3),
                    "report_bytes": html.stat().st_size,
                    "latency_median_ms": round(evaluation.latency.median_ms, 4)
                    if evaluation.latency
                    else None,
                    "latency_p99_ms": round(evaluation.latency.p99_ms, 4) if evaluation.latency else None,
                    "val_loss": round(evaluation.metrics.loss, 4),
                    "eval_threads": args.threads or torch.get_num_threads(),
                }
            )
        )


if __name__ == "__main__":
    main()
