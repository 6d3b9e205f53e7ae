"""Benchmark the simulator, the bots and the .slp writer; prints ONE JSON line.

- env_frames_per_s: 256 games stepped with scripted inputs (a cycled bank of random
  controller states, no policy), reading `state_columns()` every frame as an env does;
- env_frames_per_s_step_only: the same without reading the columns;
- env_frames_per_s_with_bots: 256 games with an approach bot against a defensive bot;
- write_18000_frames_s: encoding and atomically writing an 18,000-frame (5-minute) game.
Wall-clock seconds; `cpu_*` give process CPU time for a loaded machine.

Usage: python bench/sim.py [--games 256] [--frames 2000]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from exphil_assets.replays.slp_writer import GameRecord, write_slp
from exphil_assets.rl.bots import make_bot, random_controller
from exphil_assets.rl.record import simulate_games
from exphil_assets.rl.simulator import MeleeSim, SimConfig


def _timed(fn) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def bench_env(games: int, frames: int, read_columns: bool) -> tuple[float, float]:
    sim = MeleeSim(games, SimConfig(timer_frames=10**6))
    rng = np.random.default_rng(0)
    bank = [
        (random_controller(rng.random((games, 4))), random_controller(rng.random((games, 4))))
        for _ in range(64)
    ]

    def run():
        for t in range(frames):
            p1, p2 = bank[t % len(bank)]
            sim.step(p1, p2)
            if read_columns:
                sim.state_columns()

    wall, cpu = _timed(run)
    return games * frames / wall, games * frames / cpu


def bench_bots(games: int, frames: int) -> tuple[float, float]:
    sim = MeleeSim(games, SimConfig(timer_frames=10**6))
    b1, b2 = make_bot("approach", games, 1), make_bot("defensive", games, 2)

    def run():
        cols = sim.state_columns()
        for _ in range(frames):
            sim.step(b1.act(cols, 1), b2.act(cols, 2))
            cols = sim.state_columns()

    wall, cpu = _timed(run)
    return games * frames / wall, games * frames / cpu


def bench_write(frames: int = 18000) -> tuple[float, float, int]:
    (short,) = simulate_games(
        SimConfig(timer_frames=1000), [("fox", "marth")], [("approach", "defensive")], seed=0
    )
    reps = -(-frames // short.num_frames)
    columns = {k: np.tile(v, reps)[:frames] for k, v in short.columns.items()}
    columns["frame"] = np.arange(-123, frames - 123, dtype=np.int32)
    record = GameRecord(columns=columns)
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "long.slp"
        wall, cpu = _timed(lambda: write_slp(record, target))
        size = target.stat().st_size
    return wall, cpu, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--games", type=int, default=256)
    parser.add_argument("--frames", type=int, default=2000)
    args = parser.parse_args()
    env, env_cpu = bench_env(args.games, args.frames, read_columns=True)
    step, step_cpu = bench_env(args.games, args.frames, read_columns=False)
    bots, bots_cpu = bench_bots(args.games, max(args.frames // 4, 100))
    write_s, write_cpu, size = bench_write()
    print(
        json.dumps(
            {
                "bench": "sim",
                "games": args.games,
                "frames": args.frames,
                "env_frames_per_s": round(env),
                "env_frames_per_s_step_only": round(step),
                "env_frames_per_s_with_bots": round(bots),
                "write_18000_frames_s": round(write_s, 4),
                "slp_bytes_18000_frames": size,
                "cpu_env_frames_per_s": round(env_cpu),
                "cpu_env_frames_per_s_with_bots": round(bots_cpu),
                "cpu_write_18000_frames_s": round(write_cpu, 4),
            }
        )
    )


if __name__ == "__main__":
    main()
