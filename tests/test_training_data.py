"""From TrainConfig data options to in-memory splits, on the real shared replays."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from exphil_assets.errors import UserError
from exphil_assets.features.dataset import load_dataset
from exphil_assets.replays.ingest import ingest_replays
from exphil_assets.training.batches import epoch_order, micro_batches, split_into_passes
from exphil_assets.training.config import resolve_config
from exphil_assets.training.data import load_training_data, manifest_hash


@pytest.fixture(scope="module")
def data_root(shared_replays, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("training_data")
    ingest_replays(shared_replays, root, workers=2, progress=False)
    return root


def test_mewtwo_preset_learns_only_from_the_port_playing_mewtwo(data_root):
    data = load_training_data(resolve_config("mewtwo", {}), data_root)
    assert set(data.provenance["character_frames"]) == {"MEWTWO"}
    segments = load_dataset(data.provenance["dataset_path"]).segments
    ports = {Path(s.path).name: s.ego_port for s in segments}
    assert ports["exphil__mewtwo_approach_fair.slp"] == 2  # Mewtwo is on port 2 there
    assert "exphil__fox_multishine.slp" not in ports
    assert data.train.length == 90  # the preset's window


def test_quick_preset_reads_five_files_from_port_one(data_root):
    data = load_training_data(resolve_config("quick", {"val_split": 0.3}), data_root)
    assert data.provenance["learner_replays"] == 5
    assert data.train.length == 1 and data.val is not None
    assert data.train.num_frames + data.val.num_frames == data.provenance["frames"]
    assert len(data.provenance["replay_manifest_hash"]) == 64


def test_temporal_windows_stay_inside_one_replay(data_root):
    cfg = resolve_config(None, {"temporal": True, "window_size": 50, "stride": 7, "max_files": 4})
    data = load_training_data(cfg, data_root)
    segments = load_dataset(data.provenance["dataset_path"]).segments
    bounds = sorted((s.start, s.start + s.length) for s in segments)
    for start in data.train.starts.tolist():
        assert any(lo <= start and start + 50 <= hi for lo, hi in bounds)
    batch = data.train.gather(torch.arange(3))
    assert batch["floats"].shape[:2] == (3, 50) and batch["labels"].shape == (3, 50, 13)
    assert torch.equal(batch["labels"][0], data.train.labels[data.train.starts[0] : data.train.starts[0] + 50])


def test_frame_delay_pairs_each_state_with_a_later_label(data_root):
    plain = load_training_data(resolve_config(None, {"max_files": 1}), data_root)
    delayed = load_training_data(resolve_config(None, {"max_files": 1, "frame_delay": 3}), data_root)
    assert delayed.dataset_id != plain.dataset_id
    n = delayed.train.num_samples
    assert n == plain.train.num_samples - 3  # one segment here
    assert torch.equal(delayed.train.floats[:n], plain.train.floats[:n])
    assert torch.equal(delayed.train.labels[:n], plain.train.labels[3 : n + 3])


def test_data_order_is_a_pure_function_of_seed_and_epoch():
    a = micro_batches(epoch_order(1000, seed=4, epoch=2), 64)
    b = micro_batches(epoch_order(1000, seed=4, epoch=2), 64)
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert not torch.equal(epoch_order(1000, 4, 2), epoch_order(1000, 4, 3))
    assert sorted(torch.cat(a).tolist()) == list(range(1000))


def test_ddp_batches_split_evenly_across_ranks():
    batches = micro_batches(torch.arange(101), 10, multiple_of=4)
    assert [len(b) for b in batches] == [8] * 12 + [4]  # batches of 8; the 1-sample tail is dropped
    assert torch.equal(torch.cat(batches), torch.arange(100))


def test_a_micro_batch_of_64_windows_of_90_frames_runs_in_passes_of_21_windows():
    batch = {"floats": torch.randn(64, 90, 3), "labels": torch.zeros(64, 90, 13, dtype=torch.int64)}
    passes = split_into_passes(batch, max_frames=1920)
    assert [p["labels"].shape[0] for p in passes] == [21, 21, 21, 1]  # 21 x 90 = 1,890 frames <= 1,920
    assert torch.equal(torch.cat([p["floats"] for p in passes]), batch["floats"])
    assert passes[1]["floats"].data_ptr() == batch["floats"][21:].data_ptr()  # views, not copies
    assert len(split_into_passes(batch, max_frames=64 * 90)) == 1
    with pytest.raises(UserError, match="--max-frames-per-pass 60 is shorter than one sample"):
        split_into_passes(batch, max_frames=60)


def test_manifest_hash_ignores_order():
    assert manifest_hash(["b", "a"]) == manifest_hash(["a", "b"]) != manifest_hash(["a"])
