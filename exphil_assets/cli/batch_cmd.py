"""`exphil batch`: register replay files as a new `replay_batches` partition.

This is what the new-replays sensor does, by hand: it writes the batch manifest
and, when $DAGSTER_HOME is set, adds the partition to that Dagster instance, so
`dagster asset materialize --select replay_frames --partition KEY` can ingest it.
It prints the new batch key.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from exphil_assets.cli.common import add_data_option
from exphil_assets.errors import UserError
from exphil_assets.paths import resolve_data_root


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("batch", help="register replay files as a replay-batch partition")
    parser.add_argument("--replays", required=True, metavar="DIR", help="folder of .slp files")
    parser.add_argument("--max-files", type=int, default=None, metavar="N", help="first N files by name")
    add_data_option(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from exphil_assets.replays.batches import register_batch

    folder = Path(args.replays).expanduser()
    if not folder.is_dir():
        raise UserError(f"replay folder does not exist: {folder}")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() == ".slp" and p.is_file())
    if args.max_files is not None:
        files = files[: args.max_files]
    if not files:
        raise UserError(f"no .slp files in {folder}")
    key = register_batch(resolve_data_root(args.data), files)
    if os.environ.get("DAGSTER_HOME"):
        from dagster import DagsterInstance

        with DagsterInstance.get() as instance:
            instance.add_dynamic_partitions("replay_batches", [key])
    print(key)
    return 0
