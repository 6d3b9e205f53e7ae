"""Learner choice and replay filters on the real catalog: who is learned, what each filter removed."""

from __future__ import annotations

from pathlib import Path

import pytest

from exphil_assets.errors import UserError
from exphil_assets.features.selection import (
    SelectionConfig,
    playable_frames,
    resolve_character,
    resolve_stage,
    select_learners,
)
from exphil_assets.replays.catalog import read_catalog


@pytest.fixture(scope="module")
def catalog(ingested_shared_data):
    return read_catalog(ingested_shared_data)


def _by_file(learners):
    out: dict[str, list[int]] = {}
    for learner in learners:
        out.setdefault(Path(learner.path).name, []).append(learner.ego_port)
    return out


def _report(reports, name):
    return next(r for r in reports if r.name == name)


def test_train_character_mewtwo_learns_the_mewtwo_port_whichever_it_is(catalog):
    learners, reports = select_learners(catalog, SelectionConfig(train_character="mewtwo"))
    ports = _by_file(learners)
    assert ports["exphil__mewtwo_approach_fair.slp"] == [2]  # Mewtwo on port 2, CPU Fox on port 1
    for name in (
        "exphil__mewtwo_shfair_only.slp",
        "exphil__mewtwo_recovery_mix.slp",
        "exphil__Game_20260715T195318.slp",
    ):
        assert ports[name] == [1]
    assert all(learner.ego_character == 10 for learner in learners)  # external id of Mewtwo
    # Replays without Mewtwo are removed and reported, frames included.
    report = _report(reports, "train_character")
    assert report.files_removed > 20 and report.frames_removed > 100_000
    # The G&W files have a CPU Mewtwo: never learned from, and reported.
    assert "exphil__gnw_neutral_dense.slp" not in ports
    assert _report(reports, "learner_not_human").files_removed == 2


def test_player_port_means_the_controller_port_and_skips_files_without_it(catalog):
    learners, reports = select_learners(catalog, SelectionConfig(player_port=1))
    ports = _by_file(learners)
    assert "peppi__nintendont.slp" not in ports  # ports 2 and 4
    assert ports["peppi__v3.13.slp"] == [1]
    assert all(learner.ego_port == 1 for learner in learners)
    skipped = _report(reports, "player_port")
    assert skipped.files_removed == 4  # nintendont, old_ver_thegang, transform (2,4) and libmelee 2,3
    learners4, _ = select_learners(catalog, SelectionConfig(player_port=4))
    assert _by_file(learners4)["peppi__nintendont.slp"] == [4]
    opp = next(learner for learner in learners4 if learner.path.endswith("peppi__nintendont.slp")).opp_port
    assert opp == 2


def test_dual_port_learns_both_humans_of_each_replay(catalog):
    learners, _ = select_learners(catalog, SelectionConfig(dual_port=True))
    ports = _by_file(learners)
    assert ports["peppi__nintendont.slp"] == [2, 4]
    assert ports["peppi__v3.13.slp"] == [1, 3]
    assert ports["exphil__mewtwo_approach_fair.slp"] == [2]  # port 1 is a CPU
    with_cpus, _ = select_learners(catalog, SelectionConfig(dual_port=True, human_learners_only=False))
    assert _by_file(with_cpus)["exphil__mewtwo_approach_fair.slp"] == [1, 2]


def test_each_filter_reports_the_files_and_frames_it_removed(catalog):
    cfg = SelectionConfig(
        dual_port=True, both_human=True, min_frames=1000, stages=("fd", "ys"), characters=("fox",)
    )
    learners, reports = select_learners(catalog, cfg)
    names = [r.name for r in reports]
    assert names == ["not_ok", "1v1", "both_human", "min_frames", "stages", "characters", "learner_not_human"]
    assert _report(reports, "not_ok").files_removed == 5  # the quarantined files
    one_v_one = _report(reports, "1v1")
    assert (one_v_one.files_removed, one_v_one.frames_removed) == (1, 12 + 39 + 1)  # crazy_name_tags: -39..12
    assert _report(reports, "both_human").files_removed > 0
    short = _report(reports, "min_frames")
    assert short.files_removed > 0 and 0 < short.frames_removed < short.files_removed * 1000
    for learner in learners:
        assert learner.stage in (32, 8) and learner.playable_frames >= 1000
        assert 2 in (learner.ego_character, learner.opp_character)
    removed = sum(r.files_removed for r in reports)
    assert removed + len({learner.sha256 for learner in learners}) == catalog.height


def test_max_files_keeps_the_first_files_by_path(catalog):
    learners, reports = select_learners(catalog, SelectionConfig(dual_port=True, max_files=3))
    files = sorted({learner.path for learner in learners})
    assert len(files) == 3
    everything, _ = select_learners(catalog, SelectionConfig(dual_port=True))
    assert files == sorted({learner.path for learner in everything})[:3]
    assert _report(reports, "max_files").files_removed == len({learner.path for learner in everything}) - 3


def test_names_resolve_and_bad_options_name_the_option():
    assert resolve_character("Mewtwo") == resolve_character("m2") == 10
    assert resolve_character("Game & Watch") == resolve_character("gnw") == 3
    assert resolve_stage("FD") == resolve_stage("final destination") == resolve_stage("32") == 32
    with pytest.raises(UserError, match="--train-character: unknown character 'mewthree'"):
        resolve_character("mewthree")
    with pytest.raises(UserError, match="--stages"):
        resolve_stage("moon")
    with pytest.raises(UserError, match="--player-port"):
        select_learners(read_catalog("/nonexistent"), SelectionConfig(player_port=5))


def test_playable_frames_start_at_frame_minus_39():
    assert playable_frames(-123, 100) == 140
    assert playable_frames(-10, 100) == 111
    assert playable_frames(None, None) == 0
