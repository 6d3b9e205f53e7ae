"""PPO fine-tuning of an imitation policy (after cleanrl's ppo.py; Schulman et al., 2017).

The story of `train_ppo`, top to bottom:
1. load the exported imitation policy twice: the actor-critic we train (its
   actor starts as the imitation policy, rl/actor_critic.py) and a frozen copy,
   the teacher;
2. play `num_envs` games for `rollout_len` frames in step mode, storing features,
   actions, log-probs, values, rewards and game ends (games reset on their own);
3. GAE(gamma, lambda) advantages and returns, bootstrapped from the value of the
   frame after the rollout; the teacher's logits on the same frames and actions;
4. `update_epochs` passes over the rollout in `num_minibatches` minibatches, each
   re-running its frames through the parallel forward and minimising
       L = clipped surrogate + vf_coef * (clipped) value loss
           - ent_coef * entropy + kl_coef * KL(pi || teacher),
   with the gradient norm clipped to `max_grad_norm`. Recurrent backbones
   minibatch over whole game sequences of the rollout and start each from the
   backbone state stored at the rollout's start; the MLP minibatches frames.
5. repeat until `timesteps` frames were played; write the checkpoint and the
   exported policy like `exphil train`; report win rates before and after.

Entropy and KL are per-head sums with each head conditioned on the taken values
of the heads before it (teacher forcing). Under actions drawn from the policy the
expectation of such a sum is the joint entropy / joint KL (chain rule), so they
are unbiased one-sample estimates of the full distribution's entropy and KL.
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import inspect
import math
import os
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from exphil_assets.device import check_device_name, flush_denormals, resolve_device
from exphil_assets.errors import UserError
from exphil_assets.rl.actor_critic import ActorCritic, action_kl, hidden_with_resets, select_state
from exphil_assets.rl.env import VecEnv, parse_opponent
from exphil_assets.rl.rewards import RewardConfig
from exphil_assets.rl.simulator import SimConfig
from exphil_assets.training import checkpoints as ckpt

DEFAULT_OPPONENT = {"mock": "bot:approach:0.5", "dolphin": "cpu3"}


@dataclass
class PPOConfig:
    """Every option of `exphil ppo`."""

    # --- run --------------------------------------------------------------------------
    timesteps: int = 100_000
    """total frames the learner plays (summed over the parallel games)"""
    num_envs: int = 16
    """games played in parallel"""
    rollout_len: int = 128
    """frames per game in one rollout; one PPO update uses num_envs x rollout_len frames"""
    seed: int = 0
    """seed of the games, the action sampling and the value head"""
    env: str = "mock"
    """mock (the built-in simulator) or dolphin (Slippi Dolphin through libmelee)"""
    opponent: str | None = None
    """port 2: bot:NAME[:SKILL] (mock: random, approach, defensive), cpuN (N = 1-9) or policy:PATH (mock);
    None: bot:approach:0.5 in mock, cpu3 in dolphin"""

    # --- the mock game ----------------------------------------------------------------
    stocks: int = 4
    """stocks per player in a mock game"""
    max_game_seconds: float = 480.0
    """mock game timer (8 minutes in Melee); at time-out more stocks, then less percent, wins"""

    # --- dolphin ------------------------------------------------------------------------
    dolphin: str | None = None
    """Slippi Dolphin folder or executable (env dolphin)"""
    iso: str | None = None
    """Melee NTSC 1.02 ISO (env dolphin)"""
    character: str = "fox"
    """learner's character in Dolphin"""
    stage: str = "final_destination"
    """stage in Dolphin"""
    online_delay: int = 0
    """frames of online input delay in Dolphin"""

    # --- PPO ----------------------------------------------------------------------------
    lr: float = 3e-4
    """Adam learning rate"""
    anneal_lr: bool = True
    """decay the learning rate linearly to 0 over the run"""
    gamma: float = 0.995
    """discount per frame (0.995: a horizon of ~200 frames, about 3 seconds)"""
    gae_lambda: float = 0.95
    """GAE lambda: bias-variance trade-off of the advantage estimate"""
    update_epochs: int = 4
    """passes over each rollout"""
    num_minibatches: int = 4
    """minibatches per pass (recurrent backbones: groups of whole game sequences)"""
    norm_adv: bool = True
    """normalise advantages within each minibatch"""
    clip_coef: float = 0.2
    """PPO ratio clip epsilon"""
    clip_vloss: bool = True
    """clip the value update around the rollout's values, like the ratio"""
    vf_coef: float = 0.5
    """weight of the value loss"""
    ent_coef: float = 0.001
    """weight of the entropy bonus"""
    kl_coef: float = 0.02
    """weight of the KL(pi || teacher) penalty toward the frozen imitation policy"""
    max_grad_norm: float = 0.5
    """clip the global gradient norm to this"""
    target_kl: float | None = None
    """stop an update's epochs early when the approximate KL to the rollout policy passes this"""
    value_warmup_updates: int = 4
    """first updates train the value head only, trunk frozen (the actor waits for a sensible critic)"""

    # --- reward -------------------------------------------------------------------------
    stock_weight: float = 1.0
    """reward per stock taken (minus per stock lost)"""
    damage_weight: float = 0.01
    """reward per percent dealt (minus per percent taken)"""
    win_bonus: float = 1.0
    """reward for winning a game (minus for losing it)"""

    # --- evaluation and output ----------------------------------------------------------
    eval_games: int = 100
    """mock games against the opponent before and after fine-tuning, for the win rates (0: skip)"""
    name: str = "ppo"
    """run name, the middle of the checkpoint stem {backbone}_{name}_{timestamp}"""
    device: str = "auto"
    """torch device of the networks: auto (cuda if available, else cpu), cpu, cuda or cuda:N"""
    torch_threads: int | None = 1
    """CPU threads for torch during the run (1: per-frame batches are small, and extra threads
    only contend with the simulator; None: torch's default)"""
    wandb: bool = False
    """log to Weights & Biases (offline without a key)"""
    wandb_project: str = "exphil"
    """W&B project name"""

    @property
    def resolved_opponent(self) -> str:
        if self.opponent:
            return self.opponent
        return DEFAULT_OPPONENT[self.env]

    def reward(self) -> RewardConfig:
        return RewardConfig(self.stock_weight, self.damage_weight, self.win_bonus)

    def sim_config(self) -> SimConfig:
        """Mock game rules: no entry countdown (frames nobody can act in are wasted on PPO)."""
        return SimConfig(stocks=self.stocks, timer_frames=max(1, round(self.max_game_seconds * 60)), countdown_frames=0)

    def validate(self) -> None:
        positive = ("timesteps", "num_envs", "rollout_len", "update_epochs", "num_minibatches")
        for name in positive:
            if getattr(self, name) < 1:
                raise UserError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if self.env not in ("mock", "dolphin"):
            raise UserError(f"env must be mock or dolphin, got {self.env!r}")
        if not 0 < self.gamma <= 1 or not 0 <= self.gae_lambda <= 1:
            raise UserError(f"gamma must be in (0, 1] and gae_lambda in [0, 1], got {self.gamma}, {self.gae_lambda}")
        if self.stocks < 1 or self.max_game_seconds <= 0:
            raise UserError(f"--stocks must be >= 1 and --max-game-seconds > 0, got {self.stocks}, {self.max_game_seconds}")
        check_device_name(self.device)
        parse_opponent(self.resolved_opponent)


def config_docs() -> dict[str, str]:
    """The docstring under each PPOConfig field (for --help and the Dagster launchpad)."""
    body = ast.parse(inspect.getsource(PPOConfig)).body[0].body  # type: ignore[attr-defined]
    docs = {}
    for node, nxt in zip(body, body[1:], strict=False):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            if isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant):
                docs[node.target.id] = " ".join(str(nxt.value.value).split())
    return docs


def latest_imitation_policy(models_dir: str | Path, backbone: str) -> Path:
    """The newest exported imitation policy (`*_policy.json`, not a PPO one) of `backbone` in `models_dir`."""
    models_dir = Path(models_dir)
    found = []
    for meta_path in models_dir.glob(f"{backbone}_*_policy.json"):
        try:
            meta = ckpt.read_policy_meta(meta_path)
        except (UserError, ValueError):
            continue
        if meta.get("backbone") == backbone and meta.get("kind") != "ppo":
            found.append((meta_path.stat().st_mtime, meta_path.name, meta_path))
    if not found:
        raise UserError(f"no exported {backbone} imitation policy in {models_dir}; train one first "
                        f"(exphil train --backbone {backbone}) or pass --pretrained")  # fmt: skip
    return max(found)[2]


@dataclass
class PPOResult:
    """What a PPO run produced and measured."""

    policy_path: Path
    checkpoint_path: Path
    config_path: Path
    pretrained_path: Path
    backbone: str
    timesteps: int
    updates: int
    frames_per_second: float
    device: str = "cpu"
    """the torch device the networks ran on"""
    reward_curve: list[dict[str, float]] = field(default_factory=list)
    """per update: frames, mean reward per frame, mean return of games ended recently (NaN before any)"""
    kl_to_teacher: float = float("nan")
    """mean KL(pi || teacher) per frame in the last update"""
    win_rate_before: float | None = None
    win_rate_after: float | None = None
    match_before: dict[str, Any] | None = None
    match_after: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        for k, v in d.items():
            if isinstance(v, Path):
                d[k] = str(v)
        return d


# --- the math, as small functions each checked against hand-computed values ----------------


def compute_gae(
    rewards: torch.Tensor, values: torch.Tensor, dones: torch.Tensor, next_value: torch.Tensor, gamma: float, lam: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Advantages and returns [N, T] by GAE.

    rewards, values, dones: [N, T], where dones[:, t] says the game ended with the
    reward of step t (so nothing after it is bootstrapped); next_value [N] is
    V(first frame after the rollout).
        delta_t = r_t + gamma * V_{t+1} * (1 - done_t) - V_t
        A_t     = delta_t + gamma * lam * (1 - done_t) * A_{t+1}
    """
    T = rewards.shape[1]
    advantages = torch.zeros_like(rewards)
    last = torch.zeros_like(next_value)
    for t in reversed(range(T)):
        not_done = 1.0 - dones[:, t].float()
        v_next = next_value if t == T - 1 else values[:, t + 1]
        delta = rewards[:, t] + gamma * v_next * not_done - values[:, t]
        last = delta + gamma * lam * not_done * last
        advantages[:, t] = last
    return advantages, advantages + values


def clipped_policy_loss(
    new_log_prob: torch.Tensor, old_log_prob: torch.Tensor, advantages: torch.Tensor, clip_coef: float
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The clipped surrogate mean(max(-A r, -A clip(r, 1-eps, 1+eps))), r = pi/pi_old; plus diagnostics."""
    log_ratio = new_log_prob - old_log_prob
    ratio = log_ratio.exp()
    loss = torch.max(-advantages * ratio, -advantages * ratio.clamp(1 - clip_coef, 1 + clip_coef)).mean()
    with torch.no_grad():
        stats = {
            "approx_kl": ((ratio - 1) - log_ratio).mean(),  # low-variance KL(old || new) estimator
            "clipfrac": ((ratio - 1).abs() > clip_coef).float().mean(),
        }
    return loss, stats


def value_loss(
    new_value: torch.Tensor, old_value: torch.Tensor, returns: torch.Tensor, clip_coef: float, clip: bool = True
) -> torch.Tensor:
    """0.5 * mean squared error to the returns; clipped: the max of the plain and the clipped error."""
    unclipped = (new_value - returns) ** 2
    if not clip:
        return 0.5 * unclipped.mean()
    clipped = (old_value + (new_value - old_value).clamp(-clip_coef, clip_coef) - returns) ** 2
    return 0.5 * torch.max(unclipped, clipped).mean()


def normalize(x: torch.Tensor) -> torch.Tensor:
    return (x - x.mean()) / (x.std() + 1e-8) if x.numel() > 1 else x - x.mean()


# --- environments ------------------------------------------------------------------------


def dolphin_options(cfg: PPOConfig) -> Any:
    from exphil_assets.rl.env_dolphin import DolphinOptions

    return DolphinOptions(cfg.dolphin, cfg.iso, cfg.character, cfg.resolved_opponent, stage=cfg.stage,
                          online_delay=cfg.online_delay)  # fmt: skip


def make_env(cfg: PPOConfig, with_prev_action: bool) -> VecEnv:
    """The environment of a run: mock (simulator) or dolphin (checked before it starts)."""
    if cfg.env == "dolphin":
        from exphil_assets.rl.env_dolphin import DolphinEnv

        return DolphinEnv(dolphin_options(cfg), cfg.reward(), with_prev_action)
    from exphil_assets.rl.env_mock import MockEnv

    return MockEnv(cfg.num_envs, cfg.resolved_opponent, cfg.reward(), cfg.sim_config(), cfg.seed, with_prev_action)


# --- the run -------------------------------------------------------------------------------


def train_ppo(
    cfg: PPOConfig, pretrained_path: str | Path, models_dir: str | Path, progress: bool = True
) -> PPOResult:
    """Fine-tune the exported imitation policy at `pretrained_path` with PPO; write the results to `models_dir`."""
    cfg.validate()
    device = resolve_device(cfg.device)  # a missing GPU fails here, before anything is loaded
    if cfg.env == "dolphin":  # fail on a missing Dolphin or ISO before loading anything
        from exphil_assets.rl.env_dolphin import check_dolphin_options

        check_dolphin_options(dolphin_options(cfg))
    from exphil_assets.rl.rollout import torch_threads

    with torch_threads(cfg.torch_threads), flush_denormals():
        return _train(cfg, Path(pretrained_path), Path(models_dir), progress, device)


def _train(cfg: PPOConfig, pretrained_path: Path, models_dir: Path, progress: bool, device: torch.device) -> PPOResult:
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)

    # 1. the actor-critic, and the frozen teacher it is pulled toward
    ac, meta = ActorCritic.from_pretrained(pretrained_path)
    ac.to(device)
    teacher = copy.deepcopy(ac.policy).eval().requires_grad_(False)
    backbone = meta["backbone"]
    with_prev = bool(meta.get("feature_spec", {}).get("with_prev_action", False))
    recurrent = len(ac.init_state(1)) > 0
    N, T = cfg.num_envs, cfg.rollout_len
    if recurrent and N % cfg.num_minibatches:
        raise UserError(f"--num-envs {N} must be a multiple of --num-minibatches {cfg.num_minibatches} "
                        f"for the {backbone} backbone (minibatches are whole game sequences)")  # fmt: skip
    files = ckpt.new_run_files(models_dir, backbone, cfg.name)
    env = make_env(cfg, with_prev)
    match_before = _evaluate(cfg, ac, "before", progress)
    wandb_run = _start_wandb(cfg, files, backbone, pretrained_path)

    optimizer = torch.optim.Adam(ac.parameters(), lr=cfg.lr, eps=1e-5)
    # Action sampling and minibatch shuffles draw on the networks' device (a CPU generator cannot
    # feed CUDA sampling kernels).
    generator = torch.Generator(device=device).manual_seed(cfg.seed)
    num_updates = math.ceil(cfg.timesteps / (N * T))

    obs = env.reset()
    state = ac.init_state(N, device)
    teacher_state = teacher.init_state(N, device)
    next_start = torch.ones(N, dtype=torch.bool, device=device)  # every game starts at the first frame
    recent_returns: deque[float] = deque(maxlen=50)
    curve: list[dict[str, float]] = []
    frames_done, kl_teacher_last, t_start = 0, float("nan"), time.perf_counter()
    bar = tqdm(total=num_updates * N * T, unit="frame", unit_scale=True, desc="ppo", disable=not progress,
               dynamic_ncols=True)  # fmt: skip

    for update in range(num_updates):
        if cfg.anneal_lr:
            optimizer.param_groups[0]["lr"] = cfg.lr * (1.0 - update / num_updates)

        # 2. rollout in step mode; state0 is the backbone state before its first frame
        state0, teacher_state0 = state, teacher_state
        floats = torch.zeros(N, T, ac.policy.config.float_dim, device=device)
        ids = torch.zeros(N, T, len(ac.policy.config.id_vocab_sizes), dtype=torch.long, device=device)
        actions = torch.zeros(N, T, 13, dtype=torch.long, device=device)
        log_probs, values, rewards = (torch.zeros(N, T, device=device) for _ in range(3))
        starts, dones = (torch.zeros(N, T, dtype=torch.bool, device=device) for _ in range(2))
        ended_returns: list[float] = []
        for t in range(T):
            f, i = obs.to_torch(device)
            floats[:, t], ids[:, t], starts[:, t] = f, i, next_start
            state = ac.reset_state(state, next_start)
            state, out = ac.act(state, f, i, generator=generator)
            actions[:, t], log_probs[:, t], values[:, t] = out.action, out.log_prob, out.value
            obs, reward, done, info = env.step(out.action.cpu().numpy())
            rewards[:, t] = torch.as_tensor(reward, device=device)
            dones[:, t] = next_start = torch.as_tensor(done, device=device)
            ended_returns += info.episode_return[done].tolist()
        recent_returns.extend(ended_returns)

        # 3. advantages, and the teacher on the same frames and actions
        with torch.no_grad():
            f, i = obs.to_torch(device)
            _, hidden = ac.policy.step(ac.reset_state(state, next_start), f, i)
            next_value = ac.value(hidden)
            advantages, returns = compute_gae(rewards, values, dones, next_value, cfg.gamma, cfg.gae_lambda)
            t_hidden, teacher_state = hidden_with_resets(teacher, floats, ids, teacher_state0, starts)
            teacher_logits = teacher.heads(t_hidden, actions)

        # 4. the update: epochs of minibatches, each re-run through the parallel forward
        if recurrent:  # whole sequences [n, T] from their stored initial state
            units, per_mb = N, N // cfg.num_minibatches
        else:  # single frames, as sequences of length 1
            units, per_mb = N * T, max(1, (N * T) // cfg.num_minibatches)
        mbs_per_epoch = math.ceil(units / per_mb)
        actor_on = update >= cfg.value_warmup_updates
        stats: dict[str, list[float]] = {k: [] for k in ("pg", "v", "ent", "kl_teacher", "approx_kl", "clipfrac")}
        for _epoch in range(cfg.update_epochs):
            perm = torch.randperm(units, generator=generator, device=device)
            for lo in range(0, units, per_mb):
                mb = perm[lo : lo + per_mb]
                if recurrent:
                    view = _sequences(mb, floats, ids, actions, log_probs, values, advantages, returns, starts)
                    s0 = select_state(state0, mb)
                else:
                    view = _frames(mb, floats, ids, actions, log_probs, values, advantages, returns, starts)
                    s0 = ()
                ev = ac.evaluate(view["floats"], view["ids"], view["actions"], s0, view["starts"])
                adv = normalize(view["adv"]) if cfg.norm_adv else view["adv"]
                pg_loss, pg_stats = clipped_policy_loss(ev.log_prob, view["logp"], adv, cfg.clip_coef)
                v_loss = value_loss(ev.value, view["values"], view["returns"], cfg.clip_coef, cfg.clip_vloss)
                entropy = ev.entropy.mean()
                t_logits = {k: _gather(v, mb, recurrent) for k, v in teacher_logits.items()}
                kl_teacher = action_kl(ev.logits, t_logits).mean()
                actor_loss = pg_loss - cfg.ent_coef * entropy + cfg.kl_coef * kl_teacher
                loss = cfg.vf_coef * v_loss + (actor_loss if actor_on else 0.0)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if not actor_on:  # warm-up: the value loss must not move the shared trunk either
                    for p in ac.policy.parameters():
                        p.grad = None
                torch.nn.utils.clip_grad_norm_(ac.parameters(), cfg.max_grad_norm)
                optimizer.step()
                for k, v in (("pg", pg_loss), ("v", v_loss), ("ent", entropy), ("kl_teacher", kl_teacher),
                             ("approx_kl", pg_stats["approx_kl"]), ("clipfrac", pg_stats["clipfrac"])):  # fmt: skip
                    stats[k].append(float(v.detach()))
            if cfg.target_kl is not None and np.mean(stats["approx_kl"][-mbs_per_epoch:]) > cfg.target_kl:
                break

        # 5. progress
        frames_done += N * T
        kl_teacher_last = float(np.mean(stats["kl_teacher"]))
        fps = frames_done / (time.perf_counter() - t_start)
        ep_return = float(np.mean(recent_returns)) if recent_returns else float("nan")
        record = {"frames": float(frames_done), "reward_per_frame": float(rewards.mean()), "episode_return": ep_return,
                  "kl_teacher": kl_teacher_last, "value_loss": float(np.mean(stats["v"])),
                  "entropy": float(np.mean(stats["ent"])), "approx_kl": float(np.mean(stats["approx_kl"])),
                  "clipfrac": float(np.mean(stats["clipfrac"])), "games_ended": float(len(ended_returns))}  # fmt: skip
        curve.append(record)
        bar.update(N * T)
        bar.set_postfix(fps=f"{fps:.0f}", ep_rew="-" if math.isnan(ep_return) else f"{ep_return:.2f}",
                        kl_teacher=f"{kl_teacher_last:.3f}")  # fmt: skip
        if wandb_run is not None:
            wandb_run.log({f"ppo/{k}": v for k, v in record.items()} | {"ppo/fps": fps,
                          "ppo/lr": optimizer.param_groups[0]["lr"]}, step=frames_done)  # fmt: skip
    bar.close()
    env.close()
    fps = frames_done / (time.perf_counter() - t_start)

    # 6. files like `exphil train`, then the win rate after
    match_after = _evaluate(cfg, ac, "after", progress)
    result = PPOResult(
        policy_path=files.policy, checkpoint_path=files.checkpoint, config_path=files.config_json,
        pretrained_path=pretrained_path, backbone=backbone, timesteps=frames_done, updates=num_updates,
        frames_per_second=fps, device=str(device), reward_curve=curve, kl_to_teacher=kl_teacher_last,
        win_rate_before=match_before["win_rate"] if match_before else None,
        win_rate_after=match_after["win_rate"] if match_after else None,
        match_before=match_before, match_after=match_after,
    )  # fmt: skip
    _save(cfg, ac, optimizer, meta, files, result, num_updates)
    if wandb_run is not None:
        wandb_run.summary.update({"win_rate_before": result.win_rate_before, "win_rate_after": result.win_rate_after,
                                  "kl_to_teacher": result.kl_to_teacher})  # fmt: skip
        wandb_run.finish()
    if progress:
        tqdm.write(f"ppo policy written to {files.policy}")
    return result


# --- minibatch views -----------------------------------------------------------------------


def _sequences(mb: torch.Tensor, floats, ids, actions, log_probs, values, advantages, returns, starts) -> dict:
    """Whole game sequences [n, T] of the envs in `mb`."""
    return {"floats": floats[mb], "ids": ids[mb], "actions": actions[mb], "logp": log_probs[mb],
            "values": values[mb], "adv": advantages[mb], "returns": returns[mb], "starts": starts[mb]}  # fmt: skip


def _frames(mb: torch.Tensor, floats, ids, actions, log_probs, values, advantages, returns, starts) -> dict:
    """Single frames (flat index over N x T) as sequences of length 1."""

    def flat(x: torch.Tensor) -> torch.Tensor:
        return x.reshape(-1, *x.shape[2:])[mb].unsqueeze(1)

    return {"floats": flat(floats), "ids": flat(ids), "actions": flat(actions), "logp": flat(log_probs),
            "values": flat(values), "adv": flat(advantages), "returns": flat(returns), "starts": flat(starts)}  # fmt: skip


def _gather(x: torch.Tensor, mb: torch.Tensor, recurrent: bool) -> torch.Tensor:
    return x[mb] if recurrent else x.reshape(-1, *x.shape[2:])[mb].unsqueeze(1)


# --- evaluation, files, logging --------------------------------------------------------------


def _evaluate(cfg: PPOConfig, ac: ActorCritic, when: str, progress: bool) -> dict[str, Any] | None:
    """Win rate of the current actor against the run's opponent in mock games (None for dolphin or 0 games)."""
    if cfg.env != "mock" or cfg.eval_games <= 0:
        return None
    from exphil_assets.rl.rollout import play_match

    if progress:
        tqdm.write(f"playing {cfg.eval_games} games against {cfg.resolved_opponent} ({when} fine-tuning)")
    result = play_match(ac.policy, cfg.resolved_opponent, cfg.eval_games, cfg.sim_config(), seed=cfg.seed + 10_000,
                        progress=progress)  # fmt: skip
    return dataclasses.asdict(result)


def _save(cfg: PPOConfig, ac: ActorCritic, optimizer, meta: dict, files: ckpt.RunFiles, result: PPOResult,
          updates: int) -> None:  # fmt: skip
    """Full checkpoint, exported policy and _config.json, each written atomically."""
    backbone = meta["backbone"]
    ckpt.save_checkpoint(files.checkpoint, {
        "kind": "ppo", "embedding_version": meta.get("embedding_version"), "backbone": backbone,
        "config": dataclasses.asdict(cfg), "policy_config": meta["policy_config"],
        "feature_spec": meta.get("feature_spec"), "pretrained": str(result.pretrained_path),
        "model": ac.state_dict(), "optimizer": optimizer.state_dict(), "update": updates,
        "rng": ckpt.rng_state(),
    })  # fmt: skip
    ckpt.export_policy(
        files.policy, files.policy_meta, ac.policy.state_dict(), meta["policy_config"], meta.get("feature_spec"),
        meta.get("embedding_version"), backbone,
        extra={"run": files.stem.name, "kind": "ppo", "pretrained": str(result.pretrained_path),
               "timesteps": result.timesteps},
    )  # fmt: skip
    from exphil_assets.atomic import write_json_atomic

    write_json_atomic(files.config_json, {
        "run": files.stem.name, "kind": "ppo", "status": "completed",
        "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "provenance": {"pretrained": str(result.pretrained_path), "pretrained_run": meta.get("run"),
                       "dataset_id": meta.get("dataset_id"), "config_hash": meta.get("config_hash")},
        "model": {"backbone": backbone, "policy_config": meta["policy_config"],
                  "embedding_version": meta.get("embedding_version")},
        "ppo": dataclasses.asdict(cfg),
        "results": result.to_dict(),
    })  # fmt: skip


def _start_wandb(cfg: PPOConfig, files: ckpt.RunFiles, backbone: str, pretrained: Path) -> Any:
    if not cfg.wandb:
        return None
    import wandb

    if not os.environ.get("WANDB_API_KEY") and os.environ.get("WANDB_MODE") not in ("offline", "disabled"):
        os.environ["WANDB_MODE"] = "offline"  # never ask for a key: log locally, `wandb sync` later
    files.stem.parent.mkdir(parents=True, exist_ok=True)
    return wandb.init(project=cfg.wandb_project, name=files.stem.name, dir=str(files.stem.parent),
                      config={**dataclasses.asdict(cfg), "backbone": backbone, "pretrained": str(pretrained)},
                      reinit="finish_previous")  # fmt: skip
