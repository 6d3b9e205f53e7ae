"""The one feature function: frame-table columns -> model features (floats + categorical ids).

Replays (Parquet frame tables), the simulator (`state_columns()`) and live play
(`libmelee_adapter.gamestate_to_columns`) all feed `build_features` the same column
names, so the same state gives bit-identical features whatever produced it.

Layout, ego first (the learner's port), then the opponent:
- per player (ego, opp): PLAYER_FLOATS (scaled), ids action state and character;
- per follower (ego Nana, opp Nana): the same fields plus `nana_present`; all zeros
  and id 0 where there is no Nana;
- relative position: dx, dy (opp - ego), dx in the ego's facing frame, distance;
- optionally the previous action (labels.decode_labels_to_floats: 8 buttons, 4 stick
  values, shoulder);
- ids end with the stage.

Choices that keep replay and live (libmelee) features identical:
- hitlag, hitstun and state age are truncated toward zero: libmelee only gives them as ints;
- invulnerable is `hurtbox_state != 0` (what libmelee's `invulnerable` reads). Where the
  replay predates that field (< 2.1, null), it falls back to State Bit Flags 2 bit 0x04
  ("has intangibility or invincibility", Slippi spec). The flag alone misses respawn
  invincibility and ledge intangibility (hurtbox != 0, flag clear on thousands of frames
  of the shared replays), and libmelee does not expose the flag bytes at all.
- facing is +1 when the game's facing value is > 0, else -1 (libmelee keeps a bool).
Every null or missing field becomes 0; the result never holds NaN.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from exphil_assets.features.columns import Columns, column_f64, num_rows
from exphil_assets.features.constants import (
    ACTION_VOCAB,
    CHARACTER_VOCAB,
    EMBEDDING_VERSION,
    FLOAT_CLIP,
    HITLAG_SCALE,
    HITSTUN_SCALE,
    JUMPS_SCALE,
    LABEL_COLUMN_NAMES,
    PERCENT_SCALE,
    POSITION_SCALE,
    SHIELD_SCALE,
    SPEED_SCALE,
    STAGE_EDGE_X,
    STAGE_VOCAB,
    STATE_AGE_SCALE,
    STOCKS_SCALE,
)
from exphil_assets.features.labels import decode_labels_to_floats

# Per-player float features, in order. Mirroring the game left-right negates the ones in
# _MIRRORED (training augmentation reads FeatureSpec.mirror_signs()).
PLAYER_FLOATS: tuple[str, ...] = (
    "percent", "x", "y", "facing", "shield", "jumps", "on_ground", "invulnerable",
    "hitlag", "hitstun", "state_age", "stocks",
    "vel_self_x_air", "vel_self_y", "vel_knockback_x", "vel_knockback_y", "vel_self_x_ground",
    "ledge_distance",
)  # fmt: skip
RELATIVE_FLOATS: tuple[str, ...] = ("dx", "dy", "dx_facing", "distance")
PREV_ACTION_FLOATS: tuple[str, ...] = tuple(f"prev_{name}" for name in LABEL_COLUMN_NAMES)
_MIRRORED = {
    "x", "facing", "vel_self_x_air", "vel_knockback_x", "vel_self_x_ground", "dx",
    "prev_main_x", "prev_c_x",
}  # fmt: skip
# Player blocks in order: (feature-name prefix, which player, is it the follower).
BLOCKS: tuple[tuple[str, str, bool], ...] = (
    ("ego_", "ego", False),
    ("opp_", "opp", False),
    ("ego_nana_", "ego", True),
    ("opp_nana_", "opp", True),
)
# Frame-table fields read per player (state.py needs no pre-frame inputs).
STATE_FIELDS: tuple[str, ...] = (
    "character", "action_state", "x", "y", "facing", "percent", "shield", "state_age",
    "stocks", "jumps", "airborne", "hitstun", "hitlag", "vel_self_x_air", "vel_self_y",
    "vel_knockback_x", "vel_knockback_y", "vel_self_x_ground", "state_flags_2", "hurtbox_state",
)  # fmt: skip
_INVULNERABLE_FLAG_BIT = 0x04  # State Bit Flags 2, bit 3: "has intangibility or invincibility"


@dataclass(frozen=True)
class FeatureSpec:
    """What the feature arrays hold; saved in every dataset manifest and checkpoint."""

    float_names: tuple[str, ...]
    id_names: tuple[str, ...]
    id_vocab_sizes: tuple[int, ...]
    embedding_version: int = EMBEDDING_VERSION
    with_prev_action: bool = False

    @property
    def float_dim(self) -> int:
        return len(self.float_names)

    @property
    def id_dim(self) -> int:
        return len(self.id_names)

    def mirror_signs(self) -> np.ndarray:
        """float32 `[F]`: -1 for features that flip sign when the stage is mirrored, else +1."""
        return np.array([-1.0 if _base_name(n) in _MIRRORED else 1.0 for n in self.float_names], np.float32)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["float_dim"] = self.float_dim
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FeatureSpec:
        return cls(
            float_names=tuple(d["float_names"]),
            id_names=tuple(d["id_names"]),
            id_vocab_sizes=tuple(int(v) for v in d["id_vocab_sizes"]),
            embedding_version=int(d["embedding_version"]),
            with_prev_action=bool(d["with_prev_action"]),
        )


def _base_name(name: str) -> str:
    for prefix in sorted((b[0] for b in BLOCKS), key=len, reverse=True):  # "opp_nana_" before "opp_"
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


def feature_spec(with_prev_action: bool = False) -> FeatureSpec:
    """The FeatureSpec of `build_features` output for this option."""
    floats: list[str] = []
    ids: list[str] = []
    vocabs: list[int] = []
    for prefix, _, is_nana in BLOCKS:
        floats.extend(prefix + n for n in PLAYER_FLOATS)
        if is_nana:
            floats.append(prefix + "present")
        ids.extend([prefix + "action_state", prefix + "character"])
        vocabs.extend([ACTION_VOCAB, CHARACTER_VOCAB])
    floats.extend(RELATIVE_FLOATS)
    if with_prev_action:
        floats.extend(PREV_ACTION_FLOATS)
    ids.append("stage")
    vocabs.append(STAGE_VOCAB)
    return FeatureSpec(tuple(floats), tuple(ids), tuple(vocabs), EMBEDDING_VERSION, with_prev_action)


@dataclass
class FrameFeatures:
    """Features of T frames: floats float32 `[T, F]`, ids int64 `[T, K]`."""

    floats: np.ndarray
    ids: np.ndarray
    spec: FeatureSpec = field(repr=False)

    def as_stored(self) -> FrameFeatures:
        """The features as a model trained on the dataset saw them: floats rounded through
        float16 (the on-disk dtype), ids as stored. Use at inference for exact train/play parity."""
        return FrameFeatures(self.floats.astype(np.float16).astype(np.float32), self.ids, self.spec)


def category_id(raw: Any, vocab: int) -> np.ndarray:
    """Raw game id(s) -> embedding index: v -> v + 1; null, negative or too large -> 0."""
    v = np.asarray(raw, dtype=np.float64)
    ok = np.isfinite(v) & (v >= 0) & (v + 1 < vocab)
    return np.where(ok, np.nan_to_num(v) + 1, 0).astype(np.int64)


def _player_block(
    columns: Columns, prefix: str, rows: int, stage: int
) -> tuple[list[np.ndarray], np.ndarray]:
    """Unscaled-then-scaled float columns (PLAYER_FLOATS order) and `present` of one player."""

    def col(name: str) -> np.ndarray:
        return column_f64(columns, prefix + name, rows)

    x = col("x")
    facing = col("facing")
    hurtbox = col("hurtbox_state")
    flags2 = np.nan_to_num(col("state_flags_2")).astype(np.int64)
    invulnerable = np.where(np.isnan(hurtbox), (flags2 & _INVULNERABLE_FLAG_BIT) != 0, hurtbox != 0)
    edge = STAGE_EDGE_X.get(int(stage))
    ledge = (edge - np.abs(x)) if edge is not None else np.zeros(rows)
    values = [
        col("percent") / PERCENT_SCALE,
        x / POSITION_SCALE,
        col("y") / POSITION_SCALE,
        np.where(np.isnan(facing), 0.0, np.where(facing > 0, 1.0, -1.0)),
        col("shield") / SHIELD_SCALE,
        col("jumps") / JUMPS_SCALE,
        1.0 - col("airborne"),  # null airborne (< 2.0) -> NaN -> 0
        invulnerable.astype(np.float64),
        np.trunc(col("hitlag")) / HITLAG_SCALE,
        np.trunc(col("hitstun")) / HITSTUN_SCALE,
        np.trunc(col("state_age")) / STATE_AGE_SCALE,
        col("stocks") / STOCKS_SCALE,
        col("vel_self_x_air") / SPEED_SCALE,
        col("vel_self_y") / SPEED_SCALE,
        col("vel_knockback_x") / SPEED_SCALE,
        col("vel_knockback_y") / SPEED_SCALE,
        col("vel_self_x_ground") / SPEED_SCALE,
        ledge / POSITION_SCALE,
    ]
    present = ~np.isnan(x)
    return values, present


def build_features(
    columns: Columns,
    ego_port: int,
    opp_port: int,
    stage: int,
    prev_action: np.ndarray | None = None,
) -> FrameFeatures:
    """Frame-table columns of T frames -> FrameFeatures for the learner on `ego_port`.

    `stage` is the external stage id. `prev_action`, uint8 `[T, 13]` labels (row t = the
    input that produced frame t), adds the previous-action block when given.
    """
    rows = num_rows(columns, f"p{ego_port}_x")
    spec = feature_spec(with_prev_action=prev_action is not None)
    ports = {"ego": ego_port, "opp": opp_port}
    floats: list[np.ndarray] = []
    ids: list[np.ndarray] = []
    positions: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    ego_facing = np.zeros(rows)
    for _, who, is_nana in BLOCKS:
        prefix = f"p{ports[who]}_nana_" if is_nana else f"p{ports[who]}_"
        values, present = _player_block(columns, prefix, rows, stage)
        action = category_id(column_f64(columns, prefix + "action_state", rows), ACTION_VOCAB)
        character = category_id(column_f64(columns, prefix + "character", rows), CHARACTER_VOCAB)
        if is_nana:
            # An absent Nana is all zeros, whatever the table holds for that row.
            values = [np.where(present, v, 0.0) for v in values] + [present.astype(np.float64)]
            action, character = np.where(present, action, 0), np.where(present, character, 0)
        else:
            positions[who] = column_f64(columns, prefix + "x", rows), column_f64(columns, prefix + "y", rows)
            if who == "ego":
                ego_facing = values[PLAYER_FLOATS.index("facing")]
        floats.extend(values)
        ids.extend([action, character])

    (ex, ey), (ox, oy) = positions["ego"], positions["opp"]
    dx, dy = ox - ex, oy - ey
    floats.extend(
        [dx / POSITION_SCALE, dy / POSITION_SCALE, dx * ego_facing / POSITION_SCALE,
         np.hypot(dx, dy) / POSITION_SCALE]
    )  # fmt: skip
    if prev_action is not None:
        prev = np.asarray(prev_action)
        if prev.shape != (rows, len(LABEL_COLUMN_NAMES)):
            raise ValueError(f"prev_action must be [{rows}, {len(LABEL_COLUMN_NAMES)}], got {prev.shape}")
        floats.extend(decode_labels_to_floats(prev).astype(np.float64).T)
    ids.append(np.full(rows, category_id(stage, STAGE_VOCAB), dtype=np.int64))

    out = np.stack(floats, axis=1)
    out = np.clip(np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0), -FLOAT_CLIP, FLOAT_CLIP)
    return FrameFeatures(floats=out.astype(np.float32), ids=np.stack(ids, axis=1), spec=spec)
