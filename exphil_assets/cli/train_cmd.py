"""`exphil train`: imitation training with the training guide's options.

Every TrainConfig field is a `--kebab-case` flag whose default is "not given"
(argparse.SUPPRESS), so only the flags the user typed override the preset:
defaults < --preset < flags. Booleans also have a `--no-...` form (to turn off
what a preset turns on); optional numbers accept `none`.

Where it runs: with $DAGSTER_HOME set (and not under torchrun), the run
materializes the `imitation_policy` asset (partition = backbone) in that Dagster
instance, so it appears in the UI with its metadata and check; `--no-dagster`
skips that. Otherwise the same core (`training.run.run_train`) runs directly.
Under `torchrun --nproc_per_node N` every rank runs the core (DDP: gloo on the CPU, nccl on CUDA).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from exphil_assets.cli.common import add_data_option
from exphil_assets.device import resolve_device
from exphil_assets.training.config import config_fields, field_docs, field_types, resolve_config
from exphil_assets.training.presets import PRESETS

NONE_WORDS = ("none", "null", "all")  # "--max-files all" clears a preset's limit
CLI_ONLY = ("data",)  # handled by the shared --data option


def _optional(kind: type) -> Any:
    def parse(text: str) -> Any:
        if text.lower() in NONE_WORDS:
            return None
        return kind(text)

    parse.__name__ = kind.__name__  # argparse names the type in its error message
    return parse


def _add_config_flags(parser: argparse.ArgumentParser) -> None:
    docs = field_docs()
    types = field_types()
    defaults = {name: f.default for name, f in config_fields().items()}
    for name in config_fields():
        if name in CLI_ONLY:
            continue
        flag = "--" + name.replace("_", "-")
        hint, text = types[name], str(types[name])
        default = defaults[name]
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
        help_text = f"{docs.get(name, '')} (default: {shown})".replace("%", "%%")
        names = [flag, "--models"] if name == "models_dir" else [flag]
        kwargs: dict[str, Any] = {"dest": name, "default": argparse.SUPPRESS, "help": help_text}
        if hint is bool or text == "bool":
            parser.add_argument(*names, action=argparse.BooleanOptionalAction, **kwargs)
            continue
        if name == "hidden":
            kind: Any = str
            kwargs["metavar"] = "N,N"
        elif "int" in text and "float" not in text:
            kind = int
            kwargs["metavar"] = "N"
        elif "float" in text:
            kind = float
            kwargs["metavar"] = "X"
        else:
            kind = str
            kwargs["metavar"] = "PATH" if name in ("replays", "resume", "models_dir") else "NAME"
        kwargs["type"] = _optional(kind) if "None" in text else kind
        parser.add_argument(*names, **kwargs)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train a policy by imitation of replays",
        description=(
            "Train a policy by imitation. Precedence: defaults, then --preset, then the flags given. "
            "With --replays, the folder is ingested first (known files are skipped). Writes "
            "{backbone}_{name}_{timestamp}.pt, _policy.safetensors/.json and _config.json to the "
            "models folder. Ctrl-C writes a checkpoint to resume from (exit code 130)."
        ),
    )
    parser.add_argument("--preset", choices=list(PRESETS), help="a named set of options (reference/presets.md)")
    add_data_option(parser)
    _add_config_flags(parser)
    parser.add_argument("--no-progress", action="store_true", help="no progress bars or per-epoch lines")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")
    parser.add_argument(
        "--no-dagster", action="store_true", help="run directly even when $DAGSTER_HOME is set"
    )
    parser.set_defaults(run=run)


def explicit_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The TrainConfig options the user typed (SUPPRESS keeps the others out of `args`)."""
    fields = config_fields()
    overrides = {k: v for k, v in vars(args).items() if k in fields and k not in CLI_ONLY}
    if args.data is not None:
        overrides["data"] = args.data
    return overrides


def _use_dagster(args: argparse.Namespace) -> bool:
    return bool(os.environ.get("DAGSTER_HOME")) and not args.no_dagster and int(os.environ.get("WORLD_SIZE", "1")) <= 1


def run(args: argparse.Namespace) -> int:
    from exphil_assets.training.loop import TrainingInterrupted

    cfg = resolve_config(args.preset, explicit_overrides(args))
    resolve_device(cfg.device)  # a missing GPU fails here, before ingesting or starting a Dagster run
    progress = not args.no_progress
    try:
        if _use_dagster(args):
            from exphil_assets.defs.training import materialize_training

            summary = materialize_training(cfg, progress=progress)
        else:
            from exphil_assets.training.run import run_train

            result = run_train(cfg, progress=progress)
            summary = result.to_dict()
    except TrainingInterrupted as exc:
        print(f"exphil train: interrupted; checkpoint written to {exc.checkpoint}", file=sys.stderr)
        print(f"resume with: exphil train --resume {exc.checkpoint}", file=sys.stderr)
        return 130
    if int(os.environ.get("RANK", "0")) != 0:
        return 0
    if args.json:
        print(json.dumps(_json_summary(summary), default=str))
    else:
        print(_text_summary(summary))
    return 0


def _json_summary(summary: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in summary.items() if k != "history"}
    out["history"] = [{"epoch": r["epoch"], "train_loss": r["train"].get("loss"),
                       "val_loss": (r["val"] or {}).get("loss")} for r in summary.get("history", [])]
    return out


def _text_summary(summary: dict[str, Any]) -> str:
    def fmt(value: Any) -> str:
        return f"{value:.4f}" if isinstance(value, float) else str(value)

    acc = "  ".join(f"{h} {a:.3f}" for h, a in summary.get("head_accuracy", {}).items())
    lines = [
        f"trained {summary['backbone']}: {summary['epochs_run']} epoch(s), {summary['steps']} steps, "
        f"{summary['params']:,} parameters on {summary.get('device') or '?'} ({summary['stopped']})",
        f"  best val loss {fmt(summary.get('best_val_loss'))}   final val loss {fmt(summary.get('final_val_loss'))}"
        f"   final train loss {fmt(summary.get('final_train_loss'))}",
        f"  accuracy: {acc}",
    ]
    for key, path in summary.get("files", {}).items():
        lines.append(f"  {key:<16} {Path(path)}")
    if summary.get("dagster_run_id"):
        lines.append(f"  dagster run     {summary['dagster_run_id']}")
    return "\n".join(lines)

