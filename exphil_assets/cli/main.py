"""Entry point of the `exphil` command.

Each sub-command lives in its own module of this package and exposes
`add_parser(subparsers)` and `run(args) -> int`. Errors that a user can fix
(`UserError`) print one line and exit non-zero, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from exphil_assets.errors import UserError

# sub-command name -> module in exphil_assets.cli
COMMANDS: dict[str, str] = {
    "ingest": "ingest_cmd",
    "catalog": "catalog_cmd",
    "eval": "eval_cmd",
    "train": "train_cmd",
    "ppo": "ppo_cmd",
    "lineage": "lineage_cmd",
    "batch": "batch_cmd",
    "demo": "demo_cmd",
}


class _Parser(argparse.ArgumentParser):
    """argparse that names the bad option and exits 2, without a usage dump."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"exphil: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="exphil", description="Train Melee agents from Slippi replays.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for module_name in COMMANDS.values():
        module = importlib.import_module(f"exphil_assets.cli.{module_name}")
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except UserError as exc:
        print(f"exphil {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"exphil {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
