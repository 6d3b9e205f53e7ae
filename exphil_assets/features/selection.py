"""Which replays go into a dataset, and whose inputs each one teaches (the learner ports).

Works on the catalog alone (no frame table is read). Filters run in this order, each
reporting the files and playable frames it removed (a `FilterReport`):

1. `not_ok`: quarantined and duplicate catalog rows (only 'ok' replays have frame tables);
2. `1v1`: exactly two players. Always on: the ego/opponent features need one opponent;
3. `both_human`: both players HUMAN (off by default);
4. `min_frames`: fewer playable frames (ids -39 .. last) than `min_frames`;
5. `stages`: stage not in `stages` (names like "FD", "battlefield" or external ids);
6. `characters`: no player plays one of `characters`;
7. learner choice, one of:
   - `train_character NAME`: the learners are the ports that play NAME (both in a ditto);
     replays without NAME are removed (report `train_character`);
   - `dual_port`: both ports are learners (each with the other as opponent);
   - else `player_port N`: the learner is the player on controller port N (1-4), the
     physical port, as the game and the catalog number it. A replay without a player on
     port N (e.g. ports 2 and 4 when N = 1) is removed and reported (`player_port`), never
     silently remapped: port numbers mean the same thing in every replay;
8. `human_learners_only` (on by default): CPU learners are dropped; a replay left with no
   learner is removed (report `learner_not_human`);
9. `max_files`: keep the first N remaining replays by path (report `max_files`).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

import polars as pl

from exphil_assets.errors import UserError
from exphil_assets.features.constants import FIRST_PLAYABLE_FRAME
from exphil_assets.replays.catalog import STATUS_OK
from exphil_assets.replays.names import character_name, character_names, stage_name, stage_names

# Short names users type, normalised (lower case, letters and digits only) -> canonical name.
CHARACTER_ALIASES: dict[str, str] = {
    "falcon": "CAPTAIN_FALCON",
    "cf": "CAPTAIN_FALCON",
    "dk": "DONKEY_KONG",
    "gnw": "GAME_AND_WATCH",
    "gw": "GAME_AND_WATCH",
    "mrgameandwatch": "GAME_AND_WATCH",
    "gamewatch": "GAME_AND_WATCH",  # "Game & Watch"
    "mrgamewatch": "GAME_AND_WATCH",
    "ics": "ICE_CLIMBERS",
    "ic": "ICE_CLIMBERS",
    "iceclimber": "ICE_CLIMBERS",
    "puff": "JIGGLYPUFF",
    "jiggs": "JIGGLYPUFF",
    "ylink": "YOUNG_LINK",
    "yl": "YOUNG_LINK",
    "doc": "DR_MARIO",
    "ganon": "GANONDORF",
    "pika": "PIKACHU",
    "m2": "MEWTWO",
}
STAGE_ALIASES: dict[str, int] = {"fd": 32, "bf": 31, "ys": 8, "dl": 28, "fod": 2, "ps": 3, "stadium": 3}


@dataclass(frozen=True)
class SelectionConfig:
    """Learner choice and replay filters (see the module docstring for their order)."""

    player_port: int = 1
    train_character: str | None = None
    dual_port: bool = False
    both_human: bool = False
    human_learners_only: bool = True
    min_frames: int = 0
    characters: tuple[str, ...] = ()
    stages: tuple[str, ...] = ()
    max_files: int | None = None


@dataclass(frozen=True)
class FilterReport:
    """What one filter removed: whole files and their playable frames."""

    name: str
    files_removed: int
    frames_removed: int
    detail: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Learner:
    """One learner-replay: the replay `sha256`, learning the inputs of `ego_port`."""

    sha256: str
    path: str
    ego_port: int
    opp_port: int
    ego_character: int  # external character id
    opp_character: int
    stage: int  # external stage id
    playable_frames: int


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def resolve_character(name: str, option: str = "--train-character") -> int:
    """A character name ("mewtwo", "Game & Watch", "gnw", "10") -> external character id."""
    by_norm = {_norm(n): ext for ext, n in character_names().items()}
    by_norm.update({alias: by_norm[_norm(canon)] for alias, canon in CHARACTER_ALIASES.items()})
    key = _norm(str(name))
    if key.isdigit() and int(key) in character_names():
        return int(key)
    if key not in by_norm:
        known = ", ".join(sorted(n.lower() for n in character_names().values()))
        raise UserError(f"{option}: unknown character {name!r}; known: {known}")
    return by_norm[key]


def resolve_stage(name: str | int, option: str = "--stages") -> int:
    """A stage name ("FD", "battlefield", "32") -> external stage id."""
    key = _norm(str(name))
    if key.isdigit():
        return int(key)
    by_norm = {_norm(n): ext for ext, n in stage_names().items()}
    by_norm.update(STAGE_ALIASES)
    if key not in by_norm:
        known = ", ".join(sorted(STAGE_ALIASES) + sorted(n.lower() for n in stage_names().values()))
        raise UserError(f"{option}: unknown stage {name!r}; known: {known}")
    return by_norm[key]


def playable_frames(first_frame: int | None, last_frame: int | None) -> int:
    """Frames from the first playable id (-39) to the last, from the catalog's first/last ids."""
    if first_frame is None or last_frame is None:
        return 0
    return max(0, int(last_frame) - max(int(first_frame), FIRST_PLAYABLE_FRAME) + 1)


def _validate(cfg: SelectionConfig) -> None:
    if not 1 <= cfg.player_port <= 4:
        raise UserError(f"--player-port must be a controller port 1-4, got {cfg.player_port}")
    if cfg.min_frames < 0:
        raise UserError(f"--min-frames must be >= 0, got {cfg.min_frames}")
    if cfg.max_files is not None and cfg.max_files < 1:
        raise UserError(f"--max-files must be >= 1, got {cfg.max_files}")


def select_learners(catalog: pl.DataFrame, cfg: SelectionConfig) -> tuple[list[Learner], list[FilterReport]]:
    """Apply the filters and the learner choice to the catalog; deterministic (sorted by path)."""
    _validate(cfg)
    rows = sorted(catalog.to_dicts(), key=lambda r: (r["path"] or "", r["sha256"] or ""))
    for r in rows:
        r["_frames"] = playable_frames(r.get("first_frame"), r.get("last_frame"))
    reports: list[FilterReport] = []

    def apply(name: str, keep, detail: str = "") -> None:
        nonlocal rows
        kept = [r for r in rows if keep(r)]
        removed = [r for r in rows if not keep(r)]
        reports.append(FilterReport(name, len(removed), sum(r["_frames"] for r in removed), detail))
        rows = kept

    apply("not_ok", lambda r: r["status"] == STATUS_OK, "quarantined or duplicate catalog rows")
    apply("1v1", lambda r: len(r["players"] or []) == 2, "exactly two players")
    if cfg.both_human:
        apply("both_human", lambda r: all(p["type"] == "HUMAN" for p in r["players"]))
    if cfg.min_frames:
        apply("min_frames", lambda r: r["_frames"] >= cfg.min_frames, f">= {cfg.min_frames} playable frames")
    if cfg.stages:
        wanted_stages = {resolve_stage(s) for s in cfg.stages}
        names = ", ".join(stage_name(s) for s in sorted(wanted_stages))
        apply("stages", lambda r: int(r["stage"]) in wanted_stages, names)
    if cfg.characters:
        wanted_chars = {resolve_character(c, "--characters") for c in cfg.characters}
        names = ", ".join(character_name(c) for c in sorted(wanted_chars))
        apply("characters", lambda r: any(p["character"] in wanted_chars for p in r["players"]), names)

    train_id = resolve_character(cfg.train_character) if cfg.train_character else None

    def ports_of(r: dict) -> list[dict]:
        players = r["players"]
        if train_id is not None:
            return [p for p in players if p["character"] == train_id]
        if cfg.dual_port:
            return list(players)
        return [p for p in players if p["port"] == cfg.player_port]

    if train_id is not None:
        apply("train_character", lambda r: bool(ports_of(r)), character_name(train_id))
    elif not cfg.dual_port:
        apply("player_port", lambda r: bool(ports_of(r)), f"a player on port {cfg.player_port}")

    def learner_players(r: dict) -> list[dict]:
        chosen = ports_of(r)
        return [p for p in chosen if p["type"] == "HUMAN"] if cfg.human_learners_only else chosen

    if cfg.human_learners_only:
        apply("learner_not_human", lambda r: bool(learner_players(r)), "CPU learners dropped")
    if cfg.max_files is not None:
        first = {id(r) for r in rows[: cfg.max_files]}
        apply("max_files", lambda r: id(r) in first, f"first {cfg.max_files} by path")

    learners = []
    for r in rows:
        for me in learner_players(r):
            other = next(p for p in r["players"] if p["port"] != me["port"])
            learners.append(
                Learner(
                    sha256=r["sha256"],
                    path=r["path"],
                    ego_port=int(me["port"]),
                    opp_port=int(other["port"]),
                    ego_character=int(me["character"]),
                    opp_character=int(other["character"]),
                    stage=int(r["stage"]),
                    playable_frames=r["_frames"],
                )
            )
    return learners, reports
