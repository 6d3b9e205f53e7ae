"""PPO benchmarks. Each mode prints ONE JSON line.

Throughput (default): env frames/s of the MLP policy (the training default, hidden
512 x 512) in 64 mock games against the approach bot, with policy inference
included. Two figures: acting only (step-mode sampling + simulator + features +
bot), and end to end PPO (`train_ppo`: rollouts plus the updates).

    python bench/ppo.py [--num-envs 64] [--frames 32768] [--hidden 512,512]

Learning (`--learning`): can PPO make an imitation policy better at the game?
1. simulate bot-vs-bot games (rl/record.py) and write them as .slp replays;
2. train an MLP imitation policy on port 1 of those replays (`exphil train`'s loop);
3. fine-tune it with PPO against the same bot in the mock env;
4. play 100 mock games each: base vs bot, tuned vs bot, tuned vs base.

    python bench/ppo.py --learning [--ppo-frames 2000000] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from exphil_assets.features.constants import EMBEDDING_VERSION
from exphil_assets.features.state import feature_spec
from exphil_assets.nets.policy import Policy, PolicyConfig
from exphil_assets.rl.actor_critic import ActorCritic
from exphil_assets.rl.env_mock import MockEnv
from exphil_assets.rl.ppo import PPOConfig, train_ppo
from exphil_assets.rl.rollout import play_match, torch_threads
from exphil_assets.training.checkpoints import export_policy, load_policy, policy_files

OPPONENT = "bot:approach:0.5"


def _mlp(hidden: tuple[int, ...]) -> Policy:
    spec = feature_spec()
    torch.manual_seed(0)
    cfg = PolicyConfig(float_dim=spec.float_dim, id_vocab_sizes=spec.id_vocab_sizes, backbone="mlp",
                       hidden=hidden, dropout=0.0)  # fmt: skip
    return Policy(cfg).eval()


def throughput(args: argparse.Namespace) -> dict:
    hidden = tuple(int(h) for h in args.hidden.split(","))
    N = args.num_envs
    policy = _mlp(hidden)
    ppo_cfg = PPOConfig(num_envs=N, opponent=OPPONENT)
    with torch_threads(1):
        env = MockEnv(N, OPPONENT, sim_config=ppo_cfg.sim_config(), seed=0)
        ac = ActorCritic(policy)
        obs = env.reset()
        state = ac.init_state(N)
        steps = args.frames // N
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(steps):
            f, i = obs.to_torch()
            state, out = ac.act(state, f, i)
            obs, *_ = env.step(out.action.numpy())
        act_wall, act_cpu = time.perf_counter() - t0, time.process_time() - c0

    with tempfile.TemporaryDirectory() as tmp:
        weights, meta = policy_files(Path(tmp) / "mlp_bench_x")
        export_policy(weights, meta, policy.state_dict(), policy.config, feature_spec(), EMBEDDING_VERSION, "mlp")
        cfg = PPOConfig(timesteps=args.frames, num_envs=N, rollout_len=128, opponent=OPPONENT, eval_games=0)
        t0 = time.perf_counter()
        result = train_ppo(cfg, weights, Path(tmp), progress=False)
        ppo_wall = time.perf_counter() - t0
    return {
        "bench": "ppo_throughput", "backbone": "mlp", "hidden": list(hidden), "num_envs": N,
        "frames": steps * N, "acting_frames_per_s": round(steps * N / act_wall, 1),
        "acting_frames_per_cpu_s": round(steps * N / act_cpu, 1),
        "ppo_frames_per_s": round(result.frames_per_second, 1), "ppo_wall_s": round(ppo_wall, 1),
        "ppo_rollout_len": cfg.rollout_len, "ppo_update_epochs": cfg.update_epochs, "torch_threads": 1,
    }  # fmt: skip


def learning(args: argparse.Namespace) -> dict:
    from exphil_assets.rl.record import generate_replays
    from exphil_assets.training.config import resolve_config
    from exphil_assets.training.run import run_train

    work = Path(args.workdir or tempfile.mkdtemp(prefix="exphil-ppo-bench-"))
    ppo = PPOConfig(
        timesteps=args.ppo_frames, num_envs=args.num_envs, rollout_len=args.rollout_len, opponent=OPPONENT,
        stocks=args.stocks, max_game_seconds=args.game_seconds, lr=args.lr, kl_coef=args.kl_coef,
        ent_coef=args.ent_coef, gamma=args.gamma, eval_games=0, seed=args.seed, update_epochs=args.update_epochs,
        num_minibatches=args.num_minibatches, damage_weight=args.damage_weight, win_bonus=args.win_bonus,
        value_warmup_updates=args.value_warmup_updates,
    )  # fmt: skip
    sim = ppo.sim_config()
    timings = {}

    # 1. replays of the approach bot (port 1, the learner) against the same bot
    t0 = time.perf_counter()
    replays = work / "replays"
    if not any(replays.glob("*.slp")):
        generate_replays(replays, args.replay_games, seed=args.seed, frames=args.replay_frames,
                         characters=[sim.characters], bots=[(OPPONENT[4:], OPPONENT[4:])], progress=True)  # fmt: skip
    timings["replays_s"] = time.perf_counter() - t0

    # 2. imitation
    t0 = time.perf_counter()
    models = work / "models"
    existing = sorted(models.glob("mlp_imitation_*_policy.safetensors"))
    if existing:
        base_path = existing[-1]
    else:
        cfg = resolve_config(None, {
            "replays": str(replays), "data": str(work / "data"), "models_dir": str(models), "backbone": "mlp",
            "hidden": tuple(int(h) for h in args.hidden.split(",")), "epochs": args.epochs, "batch_size": 256,
            "lr": 1e-3, "precision": "f32", "dropout": 0.0, "name": "imitation", "seed": args.seed,
        })  # fmt: skip
        result = run_train(cfg, work / "data", progress=True)
        base_path = Path(result.files["policy"])
    timings["imitation_s"] = time.perf_counter() - t0

    # 3. PPO against the bot
    t0, c0 = time.perf_counter(), time.process_time()
    result = train_ppo(ppo, base_path, models, progress=True)
    timings["ppo_s"], timings["ppo_cpu_s"] = time.perf_counter() - t0, time.process_time() - c0

    # 4. 100 games each
    base, _ = load_policy(base_path)
    tuned, _ = load_policy(result.policy_path)
    t0 = time.perf_counter()
    games = args.eval_games
    base_vs_bot = play_match(base, OPPONENT, games, sim, seed=123)
    tuned_vs_bot = play_match(tuned, OPPONENT, games, sim, seed=123)
    tuned_vs_base = play_match(tuned, base, games, sim, seed=123)
    timings["eval_s"] = time.perf_counter() - t0
    returns = [r["episode_return"] for r in result.reward_curve if not np.isnan(r["episode_return"])]
    return {
        "bench": "ppo_learning", "opponent": OPPONENT, "workdir": str(work), "games_per_matchup": games,
        "game_rules": {"stocks": sim.stocks, "timer_frames": sim.timer_frames},
        "base_vs_bot_win_rate": base_vs_bot.win_rate, "tuned_vs_bot_win_rate": tuned_vs_bot.win_rate,
        "tuned_vs_base_win_rate": tuned_vs_base.win_rate,
        "tuned_vs_base": {"wins": tuned_vs_base.wins, "losses": tuned_vs_base.losses, "draws": tuned_vs_base.draws},
        "stock_diff": {"base_vs_bot": base_vs_bot.stock_differential, "tuned_vs_bot": tuned_vs_bot.stock_differential,
                       "tuned_vs_base": tuned_vs_base.stock_differential},
        "goal_tuned_beats_base_80pct": tuned_vs_base.win_rate >= 0.8,
        "ppo_frames": result.timesteps, "ppo_frames_per_s": round(result.frames_per_second, 1),
        "kl_to_teacher": round(result.kl_to_teacher, 4),
        "episode_return_first_last": [returns[0], returns[-1]] if returns else None,
        "ppo_config": {k: getattr(ppo, k) for k in ("lr", "kl_coef", "ent_coef", "gamma", "num_envs", "rollout_len",
                                                    "update_epochs", "num_minibatches", "damage_weight", "win_bonus",
                                                    "value_warmup_updates")},
        "seconds": {k: round(v, 1) for k, v in timings.items()},
        "tuned_policy": str(result.policy_path), "base_policy": str(base_path),
    }  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--learning", action="store_true", help="run the learning experiment instead of throughput")
    p.add_argument("--num-envs", type=int, default=64)
    p.add_argument("--frames", type=int, default=32768, help="throughput: frames to time")
    p.add_argument("--hidden", default=None, help="MLP sizes (throughput default 512,512; learning 256,256)")
    p.add_argument("--workdir", default=None, help="learning: keep replays, data and models here (reused if present)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--replay-games", type=int, default=48)
    p.add_argument("--replay-frames", type=int, default=3600, help="timer of each recorded game, frames")
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--ppo-frames", type=int, default=2_000_000)
    p.add_argument("--rollout-len", type=int, default=128)
    p.add_argument("--update-epochs", type=int, default=4)
    p.add_argument("--num-minibatches", type=int, default=4)
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--kl-coef", type=float, default=0.02)
    p.add_argument("--ent-coef", type=float, default=0.001)
    p.add_argument("--gamma", type=float, default=0.995)
    p.add_argument("--damage-weight", type=float, default=0.01)
    p.add_argument("--win-bonus", type=float, default=1.0)
    p.add_argument("--value-warmup-updates", type=int, default=4)
    p.add_argument("--stocks", type=int, default=4)
    p.add_argument("--game-seconds", type=float, default=120.0)
    p.add_argument("--eval-games", type=int, default=100)
    args = p.parse_args()
    if args.hidden is None:
        args.hidden = "256,256" if args.learning else "512,512"
    # Progress lines of the stages go to stderr: stdout is the JSON line. One torch thread:
    # on a shared 2-core machine a second thread mostly waits on the first.
    with contextlib.redirect_stdout(sys.stderr), torch_threads(1):
        line = learning(args) if args.learning else throughput(args)
    print(json.dumps(line))


if __name__ == "__main__":
    main()
