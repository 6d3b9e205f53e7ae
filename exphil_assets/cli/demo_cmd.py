"""`exphil demo`: a fresh machine's first run, with no replays of its own.

It simulates bot-vs-bot games with our simulator, writes them as real `.slp`
replays, then materializes the whole asset chain through Dagster, in a Dagster
instance of its own under `OUT/dagster_home`:

  replay_frames -> embedded_dataset -> imitation_policy[mlp] -> ppo_policy[mlp]
  -> evaluation_report[mlp]

so `dagster dev` on that instance shows every run, its metadata and lineage.
A few extra games, never trained on, are the held-out set of the report.
"""

from __future__ import annotations

import argparse
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from exphil_assets.errors import UserError

REPO_DAGSTER_YAML = Path(__file__).resolve().parents[2] / "dagster_home" / "dagster.yaml"
BACKBONE = "mlp"
# Dagster's console logger prints every engine event at DEBUG; the demo prints its own steps.
QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


@dataclass(frozen=True)
class DemoPlan:
    """Sizes of a demo run: small enough for a laptop CPU in a minute or two."""

    games: int = 8
    heldout_games: int = 2
    game_frames: int = 3600  # one minute of play per game
    epochs: int = 3
    ppo_timesteps: int = 4096
    closed_loop_games: int = 2
    closed_loop_frames: int = 900  # 15 s games: enough to see who lands hits
    ppo_eval_games: int = 16  # mock games for PPO's before/after win rates
    seed: int = 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="generate replays with the simulator, then run the whole chain",
        description="Simulate bot games, write them as .slp, then ingest, build the dataset, train, "
        "fine-tune with PPO and write the evaluation report, all as Dagster materializations.",
    )
    parser.add_argument("--games", type=int, default=DemoPlan.games, metavar="N", help="games to simulate")
    parser.add_argument("--out", default="demo", metavar="DIR", help="output folder (default: ./demo)")
    parser.add_argument(
        "--game-frames", type=int, default=DemoPlan.game_frames, metavar="N", help="frames per simulated game"
    )
    parser.add_argument("--seed", type=int, default=0, metavar="N", help="simulation seed")
    parser.add_argument("--epochs", type=int, default=DemoPlan.epochs, metavar="N", help="imitation epochs")
    parser.add_argument(
        "--ppo-timesteps", type=int, default=DemoPlan.ppo_timesteps, metavar="N", help="PPO env frames"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.games < 1:
        raise UserError(f"--games must be >= 1, got {args.games}")
    if args.game_frames < 60:
        raise UserError(f"--game-frames must be >= 60, got {args.game_frames}")
    plan = DemoPlan(
        games=args.games,
        game_frames=args.game_frames,
        epochs=args.epochs,
        ppo_timesteps=args.ppo_timesteps,
        seed=args.seed,
    )
    outputs = run_demo(Path(args.out), plan)
    print("\nExPhil demo finished. Results:")
    for label, path in outputs.items():
        print(f"  {label:16s} {path}")
    out = Path(args.out).resolve()
    print(
        "\nOpen the report in a browser, or the runs in the Dagster UI:\n"
        f"  DAGSTER_HOME={out / 'dagster_home'} EXPHIL_DATA={out / 'data'} EXPHIL_MODELS={out / 'models'} "
        f"EXPHIL_REPLAYS={out / 'replays'} EXPHIL_REPORTS={out / 'reports'} "
        "dagster dev -m exphil_assets.definitions"
    )
    return 0


def _step(title: str):
    print(f"==> {title}", flush=True)
    return time.perf_counter()


def run_demo(out: Path, plan: DemoPlan) -> dict[str, Path]:
    """Run the chain into `out`; return the paths of what it produced."""
    from dagster import AssetSelection, DagsterInstance, materialize

    from exphil_assets.definitions import defs
    from exphil_assets.defs.resources import ExphilStorage
    from exphil_assets.replays.batches import register_batch
    from exphil_assets.rl.record import generate_replays
    from exphil_assets.training.presets import preset_run_config

    out = out.expanduser().resolve()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create the output folder {out}: {exc}") from None
    replays, heldout = out / "replays", out / "heldout_replays"
    data, models, reports, home = out / "data", out / "models", out / "reports", out / "dagster_home"
    home.mkdir(exist_ok=True)
    shutil.copyfile(REPO_DAGSTER_YAML, home / "dagster.yaml")
    instance = DagsterInstance.from_config(str(home))
    storage = ExphilStorage(
        data_root=str(data), replays_dir=str(replays), models_dir=str(models), reports_dir=str(reports)
    )
    assets = list(defs.assets or [])
    checks = list(defs.asset_checks or [])

    def materialize_step(selection: str, partition: str | None = None, run_config: dict | None = None) -> Any:
        result = materialize(
            [*assets, *checks],
            selection=AssetSelection.assets(selection),
            partition_key=partition,
            instance=instance,
            resources={"storage": storage},
            run_config={**(run_config or {}), **QUIET_LOGS},
            raise_on_error=True,
        )
        return result.asset_materializations_for_node(selection)[-1].metadata

    t = _step(f"simulating {plan.games} training games and {plan.heldout_games} held-out games")
    files = generate_replays(replays, plan.games, seed=plan.seed, frames=plan.game_frames, progress=True)
    generate_replays(heldout, plan.heldout_games, seed=plan.seed + 1, frames=plan.game_frames)
    print(f"    {len(files)} replays in {replays} ({time.perf_counter() - t:.1f}s)")

    t = _step("ingesting (replay_frames)")
    batch = register_batch(data, files)
    instance.add_dynamic_partitions("replay_batches", [batch])
    meta = materialize_step("replay_frames", partition=batch)
    print(f"    batch {batch}: {meta['files_ok'].value} ok, {meta['frames'].value} frames "
          f"({time.perf_counter() - t:.1f}s)")

    t = _step("building the embedded dataset (embedded_dataset)")
    materialize_step("embedded_dataset")
    print(f"    done ({time.perf_counter() - t:.1f}s)")

    t = _step(f"imitation training, {BACKBONE} (imitation_policy)")
    train_config = preset_run_config("quick")
    train_config["ops"]["imitation_policy"]["config"].update(
        {"epochs": plan.epochs, "max_files": None, "precision": "f32", "seed": plan.seed}
    )
    meta = materialize_step("imitation_policy", partition=BACKBONE, run_config=train_config)
    print(f"    final train loss {_value(meta, 'final_train_loss')} ({time.perf_counter() - t:.1f}s)")

    t = _step(f"PPO fine-tuning against a scripted bot, {plan.ppo_timesteps} env frames (ppo_policy)")
    ppo_values = {
        "timesteps": plan.ppo_timesteps,
        "seed": plan.seed,
        "eval_games": plan.ppo_eval_games,
        "max_game_seconds": plan.closed_loop_frames / 60,
    }
    ppo_config = {"ops": {"ppo_policy": {"config": ppo_values}}}
    materialize_step("ppo_policy", partition=BACKBONE, run_config=ppo_config)
    print(f"    done ({time.perf_counter() - t:.1f}s)")

    t = _step("evaluation on held-out games (evaluation_report)")
    eval_config = {
        "ops": {
            "evaluation_report": {
                "config": {
                    "replays": str(heldout),
                    "closed_loop_games": plan.closed_loop_games,
                    "closed_loop_frames": plan.closed_loop_frames,
                }
            }
        }
    }
    meta = materialize_step("evaluation_report", partition=BACKBONE, run_config=eval_config)
    print(f"    done ({time.perf_counter() - t:.1f}s)")

    report = Path(str(meta["report_path"].value))
    return {
        "replays": replays,
        "data": data,
        "catalog": data / "catalog.parquet",
        "models": models,
        "report": report,
        "dagster_home": home,
    }


def _value(metadata: dict, key: str) -> str:
    entry = metadata.get(key)
    return "-" if entry is None else f"{entry.value:.4f}" if isinstance(entry.value, float) else str(entry.value)
