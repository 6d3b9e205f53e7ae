"""Human names for the ids a replay's game start uses (external character and stage ids).

Game start (and so the catalog) uses *external* character ids (the select-screen
order: C. Falcon = 0); post-frames (and so the frame tables) use *internal* ids,
the ones libmelee's `melee.enums.Character` enumerates (Mario = 0). The two
tables below are Slippi's (slp-writing-notes §3); tests check them against libmelee.
"""

from __future__ import annotations

# external id -> (NAME as Slippi tools spell it, internal id)
_CHARACTERS: dict[int, tuple[str, int]] = {
    0: ("CAPTAIN_FALCON", 2),
    1: ("DONKEY_KONG", 3),
    2: ("FOX", 1),
    3: ("GAME_AND_WATCH", 24),
    4: ("KIRBY", 4),
    5: ("BOWSER", 5),
    6: ("LINK", 6),
    7: ("LUIGI", 17),
    8: ("MARIO", 0),
    9: ("MARTH", 18),
    10: ("MEWTWO", 16),
    11: ("NESS", 8),
    12: ("PEACH", 9),
    13: ("PIKACHU", 12),
    14: ("ICE_CLIMBERS", 10),  # Popo; Nana (the follower) is internal 11
    15: ("JIGGLYPUFF", 15),
    16: ("SAMUS", 13),
    17: ("YOSHI", 14),
    18: ("ZELDA", 19),
    19: ("SHEIK", 7),
    20: ("FALCO", 22),
    21: ("YOUNG_LINK", 20),
    22: ("DR_MARIO", 21),
    23: ("ROY", 26),
    24: ("PICHU", 23),
    25: ("GANONDORF", 25),
}

# external stage id (game start) -> NAME, as Slippi tools spell it
_STAGES: dict[int, str] = {
    2: "FOUNTAIN_OF_DREAMS",
    3: "POKEMON_STADIUM",
    4: "PEACHS_CASTLE",
    5: "KONGO_JUNGLE",
    6: "BRINSTAR",
    7: "CORNERIA",
    8: "YOSHIS_STORY",
    9: "ONETT",
    10: "MUTE_CITY",
    11: "RAINBOW_CRUISE",
    12: "JUNGLE_JAPES",
    13: "GREAT_BAY",
    14: "HYRULE_TEMPLE",
    15: "BRINSTAR_DEPTHS",
    16: "YOSHIS_ISLAND",
    17: "GREEN_GREENS",
    18: "FOURSIDE",
    19: "MUSHROOM_KINGDOM",
    20: "MUSHROOM_KINGDOM_2",
    22: "VENOM",
    23: "POKE_FLOATS",
    24: "BIG_BLUE",
    25: "ICICLE_MOUNTAIN",
    26: "ICETOP",
    27: "FLAT_ZONE",
    28: "DREAMLAND",
    29: "YOSHIS_ISLAND_N64",
    30: "KONGO_JUNGLE_N64",
    31: "BATTLEFIELD",
    32: "FINAL_DESTINATION",
}

EXTERNAL_TO_INTERNAL_CHARACTER: dict[int, int] = {ext: internal for ext, (_, internal) in _CHARACTERS.items()}


def character_name(external_id: int | None) -> str:
    """`2` -> `"FOX"`; unknown ids come back as `"CHARACTER_<id>"`."""
    if external_id is None:
        return "UNKNOWN"
    entry = _CHARACTERS.get(int(external_id))
    return entry[0] if entry else f"CHARACTER_{external_id}"


def stage_name(external_id: int | None) -> str:
    """`32` -> `"FINAL_DESTINATION"`; unknown ids come back as `"STAGE_<id>"`."""
    if external_id is None:
        return "UNKNOWN"
    return _STAGES.get(int(external_id), f"STAGE_{external_id}")


def display_name(name: str) -> str:
    """`"GAME_AND_WATCH"` -> `"Game And Watch"`, for tables meant for people."""
    return name.replace("_", " ").title()


def character_names() -> dict[int, str]:
    """external id -> NAME for every playable character."""
    return {ext: name for ext, (name, _) in _CHARACTERS.items()}


def stage_names() -> dict[int, str]:
    """external stage id -> NAME for every stage."""
    return dict(_STAGES)
