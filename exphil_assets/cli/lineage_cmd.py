"""`exphil lineage --policy X`: the replay files and the config behind a policy."""

from __future__ import annotations

import argparse
import json

from exphil_assets.cli.common import add_data_option
from exphil_assets.paths import resolve_data_root


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("lineage", help="which replays and which config produced a policy")
    parser.add_argument("--policy", required=True, metavar="PATH", help="exported policy (file or stem)")
    add_data_option(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from exphil_assets.training.lineage import format_lineage, policy_lineage

    data_root = resolve_data_root(args.data) if args.data else None
    lineage = policy_lineage(args.policy, data_root)
    print(json.dumps(lineage.to_dict(), indent=2) if args.json else format_lineage(lineage))
    return 0
