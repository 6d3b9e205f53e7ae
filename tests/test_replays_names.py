"""Character and stage names: Slippi's external ids, checked against libmelee."""

from __future__ import annotations

from melee.enums import Character, to_internal_stage

from exphil_assets.replays.names import (
    EXTERNAL_TO_INTERNAL_CHARACTER,
    character_name,
    display_name,
    stage_name,
    stage_names,
)

# libmelee spells a few internal ids differently from Slippi's external names.
LIBMELEE_ALIASES = {
    "CAPTAIN_FALCON": "CPTFALCON",
    "DONKEY_KONG": "DK",
    "GAME_AND_WATCH": "GAMEANDWATCH",
    "ICE_CLIMBERS": "POPO",
    "YOUNG_LINK": "YLINK",
    "DR_MARIO": "DOC",
}


def test_external_ids_map_to_libmelee_internal_characters():
    assert len(EXTERNAL_TO_INTERNAL_CHARACTER) == 26
    for external, internal in EXTERNAL_TO_INTERNAL_CHARACTER.items():
        name = character_name(external)
        assert Character(internal).name == LIBMELEE_ALIASES.get(name, name), external


def test_known_external_ids():
    assert character_name(2) == "FOX"
    assert character_name(0) == "CAPTAIN_FALCON"
    assert character_name(10) == "MEWTWO"
    assert character_name(99) == "CHARACTER_99"


def test_legal_stage_names_agree_with_libmelee():
    for external in (2, 3, 8, 28, 31, 32):
        name = stage_name(external)
        melee_name = to_internal_stage(external).name
        assert melee_name == name, external
    assert stage_name(77) == "STAGE_77"
    assert len(stage_names()) == 30


def test_display_name_is_title_case():
    assert display_name("GAME_AND_WATCH") == "Game And Watch"
