"""`exphil ingest`: parse a folder of replays into frame tables and the catalog."""

from __future__ import annotations

import argparse
import json
import os
import sys

from exphil_assets.cli.common import add_data_option
from exphil_assets.errors import UserError
from exphil_assets.paths import resolve_data_root
from exphil_assets.replays.batches import read_batch
from exphil_assets.replays.frame_schema import ROLLBACK_CHOICES
from exphil_assets.replays.ingest import IngestSummary, ingest_replays

MAX_DEFAULT_WORKERS = 8  # beyond this, hashing in the main process becomes the bottleneck


def default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, MAX_DEFAULT_WORKERS))


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "ingest",
        help="parse .slp replays into frame tables and the catalog",
        description=(
            "Parse every .slp file under --replays (recursively) into one Parquet frame table "
            "per replay and a catalog row per file. Corrupt files are quarantined, not fatal. "
            "Re-running skips files already ingested."
        ),
    )
    parser.add_argument("--replays", metavar="DIR", help="replay folder (or one .slp file)")
    add_data_option(parser)
    parser.add_argument(
        "--workers",
        type=int,
        default=default_workers(),
        metavar="N",
        help=f"parser processes (default: the number of CPUs, at most {MAX_DEFAULT_WORKERS})",
    )
    parser.add_argument(
        "--rollback",
        choices=ROLLBACK_CHOICES,
        default="first",
        help="which version of a netplay rollback frame to keep (default: first, what the player saw)",
    )
    parser.add_argument(
        "--batch",
        metavar="KEY",
        help="batch key recorded in the catalog; without --replays, ingest that registered batch's files",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a summary")
    parser.set_defaults(run=run)


def format_summary(summary: IngestSummary) -> str:
    lines = [
        f"ingested {summary.files} file(s) in {summary.seconds:.1f}s into {summary.data_root}",
        f"  ok           {summary.ok:>7}   ({summary.frames:,} frames)",
        f"  quarantined  {summary.quarantined:>7}",
        f"  duplicates   {summary.duplicates:>7}",
        f"  skipped      {summary.skipped:>7}   (already in the catalog)",
    ]
    for path, error_class, error in summary.quarantined_files:
        lines.append(f"  quarantined: {path}: {error_class}: {error}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    data_root = resolve_data_root(args.data)
    if args.replays:
        replays = args.replays
    elif args.batch:
        replays = read_batch(data_root, args.batch)
    else:
        raise UserError("--replays DIR is required (or --batch KEY of a registered batch)")
    summary = ingest_replays(
        replays,
        data_root,
        workers=args.workers,
        rollback=args.rollback,
        batch=args.batch,
        progress=sys.stderr.isatty(),  # a bar in a terminal, no bar in logs and pipes
    )
    if args.json:
        print(json.dumps(summary.to_dict()))
    else:
        print(format_summary(summary))
    return 0
