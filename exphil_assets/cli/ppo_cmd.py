"""`exphil ppo`: fine-tune an exported imitation policy with PPO, in the simulator or in Dolphin.

Every PPOConfig field is an option (`num_envs` -> `--num-envs`), with the field's
docstring as its help, so the config and the command line cannot drift apart.
`--mock` picks the built-in simulator; without it the run plays in Dolphin and
needs `--dolphin` and `--iso` (a one-line error names what is missing).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import types
from typing import Any, get_type_hints

from exphil_assets.paths import resolve_models_dir

# Fields that are not plain options: `env` is chosen by --mock.
_NOT_OPTIONS = {"env"}


def _base_type(hint: Any) -> type:
    """int for `int | None`, etc."""
    if isinstance(hint, types.UnionType):
        return next(t for t in hint.__args__ if t is not type(None))
    return hint


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from exphil_assets.rl.ppo import PPOConfig, config_docs

    parser = subparsers.add_parser(
        "ppo",
        help="fine-tune an imitation policy with PPO (mock simulator or Dolphin)",
        description=(
            "Fine-tune an exported imitation policy with PPO against a scripted bot (--mock) or an "
            "in-game CPU in Slippi Dolphin. Writes {backbone}_ppo_{timestamp}.pt, _policy.safetensors, "
            "_policy.json and _config.json to --models."
        ),
    )
    parser.add_argument("--pretrained", required=True, metavar="PATH",
                        help="exported imitation policy (.safetensors, .json or their stem)")  # fmt: skip
    parser.add_argument("--mock", action="store_true", help="play in the built-in simulator instead of Dolphin")
    parser.add_argument("--models", metavar="DIR", help="where to write the run (default: $EXPHIL_MODELS, else ./models)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    hints, docs = get_type_hints(PPOConfig), config_docs()
    for f in dataclasses.fields(PPOConfig):
        if f.name in _NOT_OPTIONS:
            continue
        flag = "--" + f.name.replace("_", "-")
        kind = _base_type(hints[f.name])
        help_text = f"{docs.get(f.name, '')} (default: {f.default})"
        if kind is bool:
            parser.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=f.default,
                                help=help_text)  # fmt: skip
        else:
            parser.add_argument(flag, dest=f.name, type=kind, default=f.default, metavar=f.name.upper(),
                                help=help_text)  # fmt: skip
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from exphil_assets.rl.ppo import PPOConfig, train_ppo

    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(PPOConfig) if f.name not in _NOT_OPTIONS}
    cfg = PPOConfig(env="mock" if args.mock else "dolphin", **values)
    result = train_ppo(cfg, args.pretrained, resolve_models_dir(args.models), progress=not args.no_progress)

    def rate(x: float | None) -> str:
        return "-" if x is None else f"{x:.0%}"

    last = result.reward_curve[-1] if result.reward_curve else {}
    ep = last.get("episode_return", math.nan)
    print(f"ppo: {result.timesteps} frames in {result.updates} updates at {result.frames_per_second:.0f} frames/s"
          f" on {result.device}")  # fmt: skip
    print(f"ppo: win rate vs {cfg.resolved_opponent}: {rate(result.win_rate_before)} before, {rate(result.win_rate_after)} after"
          f"; mean episode return {'-' if math.isnan(ep) else f'{ep:.2f}'}; KL to teacher {result.kl_to_teacher:.4f}")  # fmt: skip
    print(f"ppo: policy {result.policy_path}")
    return 0
