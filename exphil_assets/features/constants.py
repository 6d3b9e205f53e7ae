"""Every scale, bucket count and id vocabulary of the embedding, in one place.

Changing any value here changes what a model sees: bump EMBEDDING_VERSION so
datasets and checkpoints built with the old values are never mixed with new ones.
"""

from __future__ import annotations

# Bump on any change below or in state.py / labels.py that changes features or labels.
EMBEDDING_VERSION = 1

# --- frames -------------------------------------------------------------------
# Frame ids start at -123; -39 is the first frame a player can act (Slippi spec, SPEC.md §3).
FIRST_PLAYABLE_FRAME = -39

# --- buttons --------------------------------------------------------------------
# Label button order (ARCHITECTURE.md: labels columns 0-7).
BUTTON_NAMES: tuple[str, ...] = ("A", "B", "X", "Y", "Z", "L", "R", "D_UP")
# Physical-button bitmask of each label button (Slippi spec, pre-frame "Physical Buttons").
BUTTON_MASKS: tuple[int, ...] = (0x0100, 0x0200, 0x0400, 0x0800, 0x0010, 0x0040, 0x0020, 0x0008)
NUM_BUTTONS = len(BUTTON_NAMES)

# --- sticks and shoulder -----------------------------------------------------------
# 17 symmetric buckets over [-1, 1]: step 1/8, an odd count so neutral 0.0 is its own class.
STICK_BUCKETS = 17
STICK_CENTER = STICK_BUCKETS // 2  # class 8 = 0.0
# max(L, R) analog in [0, 1]: 5 buckets (0, .25, .5, .75, 1) separate none / light / hard press.
SHOULDER_BUCKETS = 5
# Label columns: 8 buttons, main x, main y, c x, c y, shoulder.
LABEL_DIM = NUM_BUTTONS + 4 + 1
LABEL_MAIN_X, LABEL_MAIN_Y, LABEL_C_X, LABEL_C_Y, LABEL_SHOULDER = 8, 9, 10, 11, 12
LABEL_COLUMN_NAMES: tuple[str, ...] = BUTTON_NAMES + ("main_x", "main_y", "c_x", "c_y", "shoulder")

# --- normalisation of float features (value / scale) ----------------------------------
PERCENT_SCALE = 100.0  # percents live in 0-300; 100% -> 1.0
POSITION_SCALE = 100.0  # stage edges sit at 56-88 units, blast zones at ~±250
SHIELD_SCALE = 60.0  # full shield is 60 (Slippi spec)
JUMPS_SCALE = 6.0  # Kirby and Jigglypuff have the most jumps: 6
HITLAG_SCALE = 10.0  # hitlag is a few frames, up to ~20 for electric hits
HITSTUN_SCALE = 60.0  # hitstun runs up to ~100 frames at kill percents
STATE_AGE_SCALE = 100.0  # most action states last < 100 frames; idle states run on (clipped)
STOCKS_SCALE = 4.0  # 4 stocks in a standard game
SPEED_SCALE = 5.0  # run speeds are ~1-3 units/frame, knockback up to ~10
# Scaled floats are clipped here: keeps outliers (state age 10,000, misc_as junk) in float16 range.
FLOAT_CLIP = 10.0

# --- categorical id vocabularies (index 0 = absent or unknown; real id v -> v + 1) ---------
# melee.enums.Action tops out at 0x18D (397); character-specific states in the shared
# replays reach 382. 512 leaves room; anything larger maps to 0.
ACTION_VOCAB = 512
# Internal character ids run 0x00-0x20 (Sandbag = 32): 33 ids + the absent slot.
CHARACTER_VOCAB = 34
# External stage ids run to ~0x20 (FD = 32) for VS stages; 64 is safe.
STAGE_VOCAB = 64

# --- stages -------------------------------------------------------------------------
# Ground x of the stage edge (|x| of the ledge), keyed by EXTERNAL stage id; values from
# libmelee's stages.EDGE_GROUND_POSITION. Other stages have no table: ledge distance 0.
STAGE_EDGE_X: dict[int, float] = {
    2: 63.3475494385,  # Fountain of Dreams
    3: 87.75,  # Pokemon Stadium
    8: 56.0,  # Yoshi's Story
    28: 77.2713012695,  # Dream Land N64
    31: 68.4000015259,  # Battlefield
    32: 85.5656967163,  # Final Destination
}
