"""`exphil eval`: evaluate policies on held-out replays, print a table, write the HTML report."""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

from exphil_assets.atomic import write_json_atomic
from exphil_assets.cli.common import add_data_option
from exphil_assets.device import resolve_device
from exphil_assets.errors import UserError

REPORTS_ENV_VAR = "EXPHIL_REPORTS"  # same variable the Dagster storage resource reads
JSON_TO_STDOUT = "-"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "eval",
        help="evaluate policies on held-out replays and write an HTML report",
        description=(
            "Evaluate one or more exported policies on held-out frames: loss, per-head and "
            "top-3 accuracy, lift over baselines, calibration, press rates, step-mode latency, "
            "and optionally closed-loop games in the mock environment. Several policies are "
            "ranked by held-out loss. Held-out frames: every replay of --replays, else each "
            "policy's own validation split in --data."
        ),
    )
    parser.add_argument(
        "--policy",
        action="append",
        required=True,
        metavar="PATH",
        help="exported policy (.safetensors, .json or their stem); repeat to compare several",
    )
    add_data_option(parser)
    parser.add_argument("--replays", metavar="DIR", help="folder of held-out replays (ingested into --data)")
    parser.add_argument("--max-files", type=int, metavar="N", help="use at most N held-out replays")
    parser.add_argument(
        "--split",
        default="val",
        choices=("train", "val"),
        help="split of the policy's own dataset (default: val)",
    )
    parser.add_argument(
        "--out",
        metavar="PATH",
        help=f"HTML report path (default: ${REPORTS_ENV_VAR} or ./reports, eval_TIMESTAMP.html)",
    )
    parser.add_argument(
        "--json",
        nargs="?",
        const=JSON_TO_STDOUT,
        metavar="PATH",
        help="write the report data as JSON to PATH (no PATH: print it instead of the table)",
    )
    parser.add_argument(
        "--closed-loop-games",
        type=int,
        default=0,
        metavar="N",
        help="games per matchup in the mock environment (default: 0, skip)",
    )
    parser.add_argument(
        "--closed-loop-frames", type=int, default=3600, metavar="N", help="frame limit per closed-loop game"
    )
    parser.add_argument(
        "--latency-steps",
        type=int,
        default=300,
        metavar="N",
        help="timed step-mode calls per policy (0: skip)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        metavar="N",
        help="torch CPU threads for the held-out pass (default: torch's; 1 is faster on a busy machine)",
    )
    parser.add_argument(
        "--device",
        default="auto",
        metavar="NAME",
        help="torch device: auto (cuda if available, else cpu), cpu, cuda or cuda:N (default: auto)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.set_defaults(run=run)


def default_report_path(now: datetime | None = None) -> Path:
    folder = Path(os.environ.get(REPORTS_ENV_VAR, "reports")).expanduser()
    return (folder / f"eval_{(now or datetime.now(UTC)):%Y%m%dT%H%M%S}.html").resolve()


def _check_writable(path: Path, option: str) -> None:
    """Fail before the (long) evaluation if the output folder cannot be written."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"{option}: cannot create folder {path.parent}: {exc.strerror}") from None
    if not os.access(path.parent, os.W_OK):
        raise UserError(f"{option}: folder {path.parent} is not writable")


def _validate(args: argparse.Namespace) -> None:
    for name in ("max_files", "closed_loop_games", "closed_loop_frames", "latency_steps", "threads"):
        value = getattr(args, name)
        minimum = 1 if name in ("max_files", "closed_loop_frames", "threads") else 0
        if value is not None and value < minimum:
            raise UserError(f"--{name.replace('_', '-')} must be at least {minimum}, got {value}")
    if args.replays is not None and not Path(args.replays).expanduser().exists():
        raise UserError(f"--replays: folder not found: {args.replays}")
    resolve_device(args.device)  # a bad name or a missing GPU fails before any work


def format_table(report) -> str:
    """The comparison table as fixed-width text."""
    headers = ["#", "policy", "backbone", "val loss", "buttons", "main x", "main y", "c x", "c y", "shoulder",
               "top3", "ECE", "p99 ms", "60fps", "win"]  # fmt: skip

    def pct(v):
        return "-" if v is None else f"{100 * v:.1f}%"

    rows = [
        [
            str(r.rank),
            r.name,
            r.backbone,
            "-" if r.val_loss is None else f"{r.val_loss:.4f}",
            pct(r.button_accuracy),
            *(pct(r.head_accuracies.get(h)) for h in ("main_x", "main_y", "c_x", "c_y", "shoulder")),
            pct(r.stick_top3_mean),
            f"{r.stick_ece_mean:.3f}",
            "-" if r.latency_p99_ms is None else f"{r.latency_p99_ms:.2f}",
            "-" if r.fps60_capable is None else ("yes" if r.fps60_capable else "no"),
            pct(r.win_rate),
        ]
        for r in report.comparison
    ]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(headers)]
    left = {1, 2}

    def line(cells):
        return "  ".join(
            c.ljust(w) if i in left else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    d = report.data
    out = [
        f"held-out data: {d.kind} {d.path} (split {d.split}): {d.files} replay(s), {d.frames:,} frames; "
        f"device {report.device}",
        line(headers),
        *(line(r) for r in rows),
    ]
    if report.closed_loop:
        out.append(f"closed loop ({report.closed_loop.games_per_matchup} games per matchup, mock env):")
        for m in report.closed_loop.scripted + report.closed_loop.head_to_head:
            out.append(
                f"  {m.policy} vs {m.opponent}: win {100 * m.win_rate:.0f}% ({m.wins}/{m.losses}/{m.draws}), "
                f"stocks {m.stock_differential:+.2f}, damage {m.damage_differential:+.1f}"
            )
    return "\n".join(out)


def run(args: argparse.Namespace) -> int:
    from exphil_assets.evaluation.evaluate import EvalOptions, evaluate_policies
    from exphil_assets.evaluation.report_html import write_report_html

    _validate(args)
    out = Path(args.out).expanduser().resolve() if args.out else default_report_path()
    _check_writable(out, "--out")
    json_path = None
    if args.json and args.json != JSON_TO_STDOUT:
        json_path = Path(args.json).expanduser().resolve()
        _check_writable(json_path, "--json")
    options = EvalOptions(
        max_files=args.max_files,
        split=args.split,
        closed_loop_games=args.closed_loop_games,
        closed_loop_max_frames=args.closed_loop_frames,
        latency_steps=args.latency_steps,
        threads=args.threads,
        device=args.device,
        progress=not args.no_progress,
    )
    report = evaluate_policies(args.policy, data_root=args.data, replays=args.replays, options=options)
    write_report_html(report, out)
    if json_path is not None:
        write_json_atomic(json_path, report.to_dict())
    if args.json == JSON_TO_STDOUT:
        json.dump(report.to_dict(), sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
        print(f"report: {out}", file=sys.stderr)
        return 0
    print(format_table(report))
    print(f"report: {out}")
    if json_path is not None:
        print(f"json:   {json_path}")
    return 0
