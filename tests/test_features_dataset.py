"""The embedded dataset on all shared replays: label alignment against peppi's raw arrays,
no label leak, frame delay, split by file, reuse by id, atomic layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import peppi_py
import pytest

from exphil_assets.features.constants import FIRST_PLAYABLE_FRAME, LABEL_DIM
from exphil_assets.features.dataset import (
    DatasetConfig,
    build_dataset,
    load_dataset,
    split_of,
)
from exphil_assets.features.labels import encode_buttons, encode_shoulder, encode_stick

ALIGNMENT_FILES = (
    "peppi__nintendont.slp",
    "peppi__duplicate_game_end.slp",
    "exphil__mewtwo_approach_fair.slp",
)


@pytest.fixture(scope="module")
def data_root(ingested_shared_data, tmp_path_factory) -> Path:
    """A data root of our own over the shared ingested replays, so our datasets stay here."""
    source = Path(ingested_shared_data)
    root = tmp_path_factory.mktemp("features_root")
    (root / "frames").symlink_to(source / "frames")
    (root / "catalog.parquet").symlink_to(source / "catalog.parquet")
    return root


@pytest.fixture(scope="module")
def dataset(data_root):
    return build_dataset(data_root, DatasetConfig(dual_port=True, val_split=0.2, with_prev_action=True))


@pytest.fixture(scope="module")
def delayed(data_root):
    return build_dataset(
        data_root, DatasetConfig(dual_port=True, val_split=0.2, with_prev_action=True, frame_delay=18)
    )


def _arrays(manifest):
    return {
        name: np.load(manifest.path / f"{name}.npy", mmap_mode="r") for name in ("floats", "ids", "labels")
    }


def _raw_player(path: Path, port: int):
    """peppi's own arrays for one port, one row per frame id (first version), keyed by frame id."""
    game = peppi_py.read_slippi(str(path))
    index = [int(p.port) + 1 for p in game.start.players].index(port)
    ids = game.frames.id.to_numpy()
    unique, first = np.unique(ids, return_index=True)
    leader = game.frames.ports[index].leader

    def arr(a):
        return a.to_numpy(zero_copy_only=False)[first]

    pre, post = leader.pre, leader.post
    raw = {
        "buttons_physical": arr(pre.buttons_physical),
        "joystick_x": arr(pre.joystick.x),
        "joystick_y": arr(pre.joystick.y),
        "cstick_x": arr(pre.cstick.x),
        "cstick_y": arr(pre.cstick.y),
        "shoulder": np.maximum(arr(pre.triggers_physical.l), arr(pre.triggers_physical.r)),
        "x": arr(post.position.x),
    }
    return unique, raw


def _expected_labels(raw, rows: np.ndarray) -> np.ndarray:
    out = np.zeros((len(rows), LABEL_DIM), dtype=np.uint8)
    out[:, :8] = encode_buttons(raw["buttons_physical"][rows])
    for col, name in zip(range(8, 12), ("joystick_x", "joystick_y", "cstick_x", "cstick_y"), strict=True):
        out[:, col] = encode_stick(raw[name][rows])
    out[:, 12] = encode_shoulder(raw["shoulder"][rows])
    return out


def _segments(manifest, file: str):
    return [s for s in manifest.segments if s.path.endswith("/" + file)]


@pytest.mark.parametrize("file", ALIGNMENT_FILES)
def test_label_of_row_t_is_the_pre_frame_input_of_frame_t_plus_1(dataset, file):
    arrays = _arrays(dataset)
    spec = dataset.feature_spec
    x_col = spec.float_names.index("ego_x")
    segments = _segments(dataset, file)
    assert segments
    for seg in segments:
        ids, raw = _raw_player(Path(seg.path), seg.ego_port)
        assert seg.first_frame == FIRST_PLAYABLE_FRAME
        row_of = {int(f): i for i, f in enumerate(ids)}
        state_rows = np.array([row_of[seg.first_frame + r] for r in range(seg.length)])
        labels = arrays["labels"][seg.start : seg.start + seg.length]
        # Every row: label = input of the NEXT frame; and the last frame of the replay has no row.
        np.testing.assert_array_equal(labels, _expected_labels(raw, state_rows + 1), err_msg=file)
        assert seg.first_frame + seg.length == ids[-1]
        # The state of row t is frame t (its x matches peppi's post-frame x).
        x = arrays["floats"][seg.start : seg.start + seg.length, x_col].astype(np.float32)
        np.testing.assert_allclose(x, raw["x"][state_rows] / 100, atol=2e-3)


def test_prev_action_of_row_t_is_the_label_of_row_t_minus_1_never_its_own(dataset):
    arrays = _arrays(dataset)
    names = dataset.feature_spec.float_names
    prev_cols = [names.index(f"prev_{n}") for n in ("A", "B", "X", "Y", "Z", "L", "R", "D_UP")]
    main_x = names.index("prev_main_x")
    checked = 0
    for seg in dataset.segments:
        rows = slice(seg.start, seg.start + seg.length)
        labels = np.asarray(arrays["labels"][rows])
        prev_buttons = np.asarray(arrays["floats"][rows][:, prev_cols]).astype(np.uint8)
        np.testing.assert_array_equal(prev_buttons[1:], labels[:-1, :8])
        prev_x = np.asarray(arrays["floats"][rows][:, main_x]).astype(np.float32)
        np.testing.assert_array_equal(prev_x[1:], (labels[:-1, 8].astype(np.float32) - 8) / 8)
        changed = np.any(labels[1:, :8] != labels[:-1, :8], axis=1)
        # Where the input changes, the model's input row does not hold its own label.
        assert not np.any(np.all(prev_buttons[1:][changed] == labels[1:][changed, :8], axis=1))
        checked += int(changed.sum())
    assert checked > 1000


def test_frame_delay_18_pairs_state_t_minus_18_with_the_label_of_t(dataset, delayed):
    base, late = _arrays(dataset), _arrays(delayed)
    state_cols = [i for i, n in enumerate(dataset.feature_spec.float_names) if not n.startswith("prev_")]
    pairs = {(s.sha256, s.ego_port): s for s in dataset.segments}
    assert len(pairs) == len(delayed.segments)
    for seg in delayed.segments:
        ref = pairs[(seg.sha256, seg.ego_port)]
        assert seg.length == ref.length - 18  # 18 labels fewer per replay
        assert seg.first_frame == ref.first_frame  # row 0 is still the state of frame -39 ...
        d = slice(seg.start, seg.start + seg.length)
        # ... paired with the label of frame -39 + 18 (the input of frame -39 + 19).
        np.testing.assert_array_equal(
            late["labels"][d], base["labels"][ref.start + 18 : ref.start + ref.length]
        )
        np.testing.assert_array_equal(
            late["floats"][d][:, state_cols],
            base["floats"][ref.start : ref.start + seg.length][:, state_cols],
        )
        # The previous action is the learner's own last input, which it knows without delay.
        np.testing.assert_array_equal(
            late["floats"][d][:, len(state_cols) :],
            base["floats"][ref.start + 18 : ref.start + ref.length][:, len(state_cols) :],
        )


def test_validation_files_are_disjoint_from_training_files_and_stable(dataset, data_root):
    train = {s.sha256 for s in dataset.segments if s.split == "train"}
    val = {s.sha256 for s in dataset.segments if s.split == "val"}
    assert train and val and not train & val
    assert dataset.split_files == {"train": len(train), "val": len(val)}
    # Both ports of a replay share its split: the split is by file.
    for s in dataset.segments:
        assert s.split == split_of(s.sha256, 0.2)
    # Another config over fewer files keeps each file's split.
    other = build_dataset(data_root, DatasetConfig(player_port=1, val_split=0.2, max_files=20))
    for s in other.segments:
        assert s.split == ("val" if s.sha256 in val else "train")
    assert split_of("0" * 64, 0.2) == "val" and split_of("f" * 64, 0.2) == "train"
    assert split_of("f" * 64, 0.2, seed=1) in ("train", "val")


def test_identical_inputs_reuse_the_build(dataset, data_root):
    again = build_dataset(data_root, DatasetConfig(dual_port=True, val_split=0.2, with_prev_action=True))
    assert again.dataset_id == dataset.dataset_id
    assert again.created_at == dataset.created_at  # loaded, not rebuilt
    changed = build_dataset(data_root, DatasetConfig(dual_port=True, val_split=0.3, with_prev_action=True))
    assert changed.dataset_id != dataset.dataset_id


def test_dataset_layout_dtypes_and_manifest(dataset, data_root):
    arrays = _arrays(dataset)
    n, f = arrays["floats"].shape
    assert arrays["floats"].dtype == np.float16 and arrays["ids"].dtype == np.int16
    assert arrays["labels"].dtype == np.uint8 and arrays["labels"].shape == (n, 13)
    assert f == dataset.feature_spec.float_dim and arrays["ids"].shape[1] == dataset.feature_spec.id_dim
    assert n == dataset.frames == sum(s.length for s in dataset.segments)
    assert np.isfinite(np.asarray(arrays["floats"], dtype=np.float32)).all()
    assert dataset.bytes_per_frame == 2 * f + 2 * arrays["ids"].shape[1] + 13
    assert sum(dataset.character_frames.values()) == sum(dataset.stage_frames.values()) == n
    assert dataset.character_frames["MEWTWO"] > 0
    assert [r.name for r in dataset.filter_reports][:2] == ["not_ok", "1v1"]
    # Atomic: no temporary build folders left behind.
    assert not [p for p in (data_root / "datasets").iterdir() if p.name.startswith(".tmp-")]
    assert load_dataset(dataset.path).to_dict() == dataset.to_dict()
