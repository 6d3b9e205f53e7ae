"""`exphil catalog`: list the ingested replays, their status and what they contain."""

from __future__ import annotations

import argparse
import json
from collections import Counter
from typing import Any

import polars as pl

from exphil_assets.cli.common import add_data_option
from exphil_assets.errors import UserError
from exphil_assets.paths import DataPaths, resolve_data_root
from exphil_assets.replays.catalog import STATUS_OK, read_catalog
from exphil_assets.replays.names import character_name, display_name, stage_name

JSON_FIELDS = ("path", "sha256", "status", "error", "frames", "stage", "players")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "catalog",
        help="list ingested replays with status, stage and players",
        description="List the replay catalog of the data root, then counts by character and stage.",
    )
    add_data_option(parser)
    parser.add_argument("--json", action="store_true", help="print a JSON list of catalog rows")
    parser.set_defaults(run=run)


def _players_text(players: list[dict[str, Any]] | None) -> str:
    if not players:
        return "-"
    return " ".join(
        f"P{p['port']}:{display_name(character_name(p['character']))}"
        + ("(CPU)" if p["type"] == "CPU" else "")
        for p in players
    )


def _table(rows: list[list[str]], headers: list[str]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    lines = [headers, ["-" * w for w in widths], *rows]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines
    )


def format_catalog(catalog: pl.DataFrame) -> str:
    rows = []
    for row in catalog.sort("path").iter_rows(named=True):
        if row["status"] == STATUS_OK:
            detail = _players_text(row["players"])
        elif row["status"] == "duplicate":
            detail = f"duplicate of {row['duplicate_of']}"
        else:
            detail = f"{row['error_class']}: {(row['error'] or '')[:80]}"
        rows.append(
            [
                row["path"],
                row["status"],
                "-" if row["frames"] is None else str(row["frames"]),
                "-" if row["stage"] is None else display_name(stage_name(row["stage"])),
                detail,
            ]
        )
    ok = catalog.filter(pl.col("status") == STATUS_OK)
    characters: Counter[str] = Counter()
    for players in ok.get_column("players").to_list():
        for p in players or []:
            characters[display_name(character_name(p["character"]))] += 1
    stages = Counter(display_name(stage_name(s)) for s in ok.get_column("stage").to_list())
    status = Counter(catalog.get_column("status").to_list())
    parts = [
        _table(rows, ["path", "status", "frames", "stage", "players / error"]),
        "",
        "files: " + ", ".join(f"{n} {s}" for s, n in sorted(status.items())),
        "",
        "players by character (ok replays):",
        _table([[name, str(n)] for name, n in characters.most_common()], ["character", "players"]),
        "",
        "replays by stage (ok replays):",
        _table([[name, str(n)] for name, n in stages.most_common()], ["stage", "replays"]),
    ]
    return "\n".join(parts)


def catalog_records(catalog: pl.DataFrame) -> list[dict[str, Any]]:
    """The catalog as JSON-ready dicts with the fields of `exphil catalog --json`."""
    return catalog.sort("path").select(JSON_FIELDS).to_dicts()


def run(args: argparse.Namespace) -> int:
    data_root = resolve_data_root(args.data)
    if not DataPaths(data_root).catalog.exists():
        raise UserError(
            f"no catalog in {data_root}; run `exphil ingest --replays DIR --data {data_root}` first"
        )
    catalog = read_catalog(data_root)
    if args.json:
        print(json.dumps(catalog_records(catalog)))
    else:
        print(format_catalog(catalog))
    return 0
