"""Options shared by every sub-command."""

from __future__ import annotations

import argparse


def add_data_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data",
        metavar="DIR",
        default=None,
        help="data root (default: $EXPHIL_DATA, else ./data)",
    )
