"""Simulate games between scripted bots and write each one as a .slp replay.

`generate_replays(out_dir, games, seed)` is how a machine with no replays gets a
dataset: every file is a valid Slippi replay (peppi-py and libmelee read it) whose
inputs come from bots with varied skill, so labels (buttons, sticks, shoulder) vary.

Game i plays `characters[i % len(characters)]` with bots `bots[i % len(bots)]`.
Games run together in one vectorised simulator, `GAMES_PER_BATCH` at a time to bound
memory; each distinct bot spec of a port plays all games of the batch and each game
takes the inputs of its own bot. Everything derives from `seed`: the same seed
writes byte-identical files.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from exphil_assets.errors import UserError
from exphil_assets.replays.slp_writer import GameRecord, write_slp
from exphil_assets.rl import sim_constants as K
from exphil_assets.rl.bots import BOTS, ScriptedBot
from exphil_assets.rl.controller import ControllerBatch
from exphil_assets.rl.seeding import derive_seeds, uniform
from exphil_assets.rl.simulator import MeleeSim, SimConfig

DEFAULT_MATCHUPS: tuple[tuple[str, str], ...] = (
    ("fox", "marth"),
    ("fox", "falco"),
    ("falco", "marth"),
    ("marth", "fox"),
)
DEFAULT_BOTS: tuple[tuple[str, str], ...] = (
    ("approach", "defensive"),
    ("defensive", "approach"),
    ("approach", "approach"),
    ("approach", "random"),
)
# Bots named without a skill get one per game, drawn from this range.
SKILL_RANGE = (0.3, 0.95)
# Games simulated together; bounds memory (a full 8-minute game is ~29k frames x ~220 bytes).
GAMES_PER_BATCH = 16


def generate_replays(
    out_dir: Path,
    games: int,
    seed: int = 0,
    frames: int | None = None,
    characters: Sequence[tuple[str, str]] = DEFAULT_MATCHUPS,
    bots: Sequence[tuple[str, str]] = DEFAULT_BOTS,
    progress: bool = False,
) -> list[Path]:
    """Simulate `games` bot-vs-bot games and write `out_dir/sim-{seed}-{i:04d}.slp`; return the paths.

    `frames` caps each game at that many gameplay frames (the game timer; the game then
    ends on time); None plays the standard 8-minute, 4-stock game. Bot specs are
    `"name"` or `"name:skill"` (see `rl.bots`).
    """
    if games < 1:
        raise UserError(f"games must be >= 1, got {games}")
    if seed < 0:
        raise UserError(f"seed must be >= 0, got {seed}")
    if frames is not None and frames < 1:
        raise UserError(f"frames must be >= 1, got {frames}")
    if not characters or not bots:
        raise UserError("characters and bots need at least one entry each")
    for pair in characters:
        for name in pair:
            try:
                K.character_index(name)
            except ValueError as e:
                raise UserError(str(e)) from None
    for pair in bots:
        for spec in pair:
            _parse_bot(spec)
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot create the replay folder {out_dir}: {e}") from None
    config = SimConfig() if frames is None else SimConfig(timer_frames=frames)
    paths: list[Path] = [out_dir / f"sim-{seed}-{i:04d}.slp" for i in range(games)]
    bar = tqdm(total=games, desc="simulating games", unit="game", disable=not progress)
    for first in range(0, games, GAMES_PER_BATCH):
        idx = list(range(first, min(first + GAMES_PER_BATCH, games)))
        records = simulate_games(
            config,
            [tuple(characters[i % len(characters)]) for i in idx],
            [tuple(bots[i % len(bots)]) for i in idx],
            game_seeds=derive_seeds(seed, games)[idx],
        )
        for i, record in zip(idx, records, strict=True):
            write_slp(record, paths[i])
            bar.update(1)
    bar.close()
    return paths


class _PortBots:
    """The bots of one port across a batch: one bot per distinct spec, each game uses its own."""

    def __init__(self, specs: Sequence[str], game_seeds: np.ndarray):
        n = len(specs)
        self.members: list[tuple[ScriptedBot, np.ndarray]] = []
        drawn_skill = SKILL_RANGE[0] + (SKILL_RANGE[1] - SKILL_RANGE[0]) * uniform(game_seeds, 0, 1)[:, 0]
        for spec in dict.fromkeys(specs):  # distinct, in first-use order
            cls, skill = _parse_bot(spec)
            skills = drawn_skill if skill is None else np.full(n, skill, np.float32)
            mask = np.array([s == spec for s in specs])
            self.members.append((cls(n, skills, seed=game_seeds), mask))

    def act(self, state, player: int) -> ControllerBatch:
        out = None
        for bot, mask in self.members:
            inputs = bot.act(state, player)
            out = (
                inputs
                if out is None
                else ControllerBatch(
                    *(np.where(mask, getattr(inputs, f), getattr(out, f)) for f in _CONTROLLER_FIELDS)
                )
            )
        return out


_CONTROLLER_FIELDS = ("buttons", "main_x", "main_y", "c_x", "c_y", "l", "r")


def simulate_games(
    config: SimConfig,
    character_pairs: Sequence[tuple[str, str]],
    bot_pairs: Sequence[tuple[str, str]],
    seed: int = 0,
    game_seeds: np.ndarray | None = None,
) -> list[GameRecord]:
    """Play len(character_pairs) games to the end, game i between the bots of bot_pairs[i].

    Each game is determined by its own seed (`game_seeds` [N] uint64, else derived from
    `seed` and the game's position), whatever other games run beside it.
    """
    n = len(character_pairs)
    if len(bot_pairs) != n:
        raise ValueError(f"{len(bot_pairs)} bot pairs for {n} games")
    if game_seeds is None:
        game_seeds = derive_seeds(seed, n)
    sim = MeleeSim(n, config, seed=derive_seeds(game_seeds, stream=0), character_pairs=list(character_pairs))
    players = [
        _PortBots([pair[k] for pair in bot_pairs], derive_seeds(game_seeds, stream=1 + k)) for k in (0, 1)
    ]
    max_frames = config.countdown_frames + config.timer_frames
    store: dict[str, np.ndarray] = {}
    seeds_per_frame = np.zeros((max_frames, n), np.uint32)
    length = np.zeros(n, np.int64)
    t = 0
    cols = sim.state_columns()
    while not sim.done.all():
        sim.step(players[0].act(cols, 1), players[1].act(cols, 2))
        cols = sim.state_columns()
        if not store:
            store = {k: np.zeros((max_frames, n), v.dtype) for k, v in cols.items()}
        for k, v in cols.items():
            store[k][t] = v
        seeds_per_frame[t] = sim.random_seed
        t += 1
        length = np.where(sim.done & (length == 0), t, length)
    records = []
    for g in range(n):
        rows = int(length[g])
        winner = int(sim.winner[g])
        records.append(
            GameRecord(
                columns={k: v[:rows, g].copy() for k, v in store.items()},
                stage=K.STAGE_ID,
                end_method=int(sim.end_method[g]),
                winner_port=winner or None,
                starting_stocks=config.stocks,
                timer_seconds=-(-config.timer_frames // K.FPS),
                random_seed=int(seeds_per_frame[0, g]),
                frame_seeds=seeds_per_frame[:rows, g].copy(),
            )
        )
    return records


def _parse_bot(spec: str) -> tuple[type[ScriptedBot], float | None]:
    name, _, skill = str(spec).partition(":")
    if name not in BOTS:
        raise UserError(f"unknown bot {name!r} in {spec!r}; choose one of: {', '.join(BOTS)}")
    if not skill:
        return BOTS[name], None
    try:
        value = float(skill)
    except ValueError:
        raise UserError(f"bot skill in {spec!r} must be a number in [0, 1]") from None
    if not 0.0 <= value <= 1.0:
        raise UserError(f"bot skill in {spec!r} must be in [0, 1]")
    return BOTS[name], value
