"""Window starts and the memory-mapped EmbeddedDataset: windows never cross replays, batches
equal items, every window visited once per epoch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from exphil_assets.errors import UserError
from exphil_assets.features.dataset import DatasetConfig, build_dataset
from exphil_assets.features.windows import EmbeddedDataset, window_starts


@pytest.fixture(scope="module")
def dataset(ingested_shared_data, tmp_path_factory):
    source = Path(ingested_shared_data)
    root = tmp_path_factory.mktemp("windows_root")
    (root / "frames").symlink_to(source / "frames")
    (root / "catalog.parquet").symlink_to(source / "catalog.parquet")
    return build_dataset(root, DatasetConfig(dual_port=True, val_split=0.2))


def test_window_starts_stay_inside_each_segment():
    np.testing.assert_array_equal(window_starts([5, 2, 4], window=3), [0, 1, 2, 7, 8])
    np.testing.assert_array_equal(window_starts([5, 2, 4], window=3, stride=2), [0, 2, 7])
    np.testing.assert_array_equal(
        window_starts([5, 4], window=1, offsets=[100, 10]), [100, 101, 102, 103, 104, 10, 11, 12, 13]
    )
    assert window_starts([2, 2], window=3).size == 0
    with pytest.raises(ValueError, match="window"):
        window_starts([5], window=0)


@pytest.mark.parametrize("window", [30, 90])
def test_windows_never_cross_replays(dataset, window):
    ds = EmbeddedDataset(dataset.path, "train", window=window)
    segs = [s for s in dataset.segments if s.split == "train"]
    segment_of_row = np.full(dataset.frames, -1)
    for i, s in enumerate(segs):
        segment_of_row[s.start : s.start + s.length] = i
    first, last = segment_of_row[ds.starts], segment_of_row[ds.starts + window - 1]
    assert np.all(first >= 0) and np.all(first == last)
    assert len(ds) == sum(max(0, s.length - window + 1) for s in segs)


def test_items_are_views_of_the_stored_rows(dataset):
    ds = EmbeddedDataset(dataset.path, "val", window=60)
    floats = np.load(dataset.path / "floats.npy", mmap_mode="r")
    labels = np.load(dataset.path / "labels.npy", mmap_mode="r")
    item = ds[len(ds) // 2]
    start = ds.starts[len(ds) // 2]
    assert (
        item["floats"].shape == (60, dataset.feature_spec.float_dim) and item["floats"].dtype == torch.float32
    )
    assert item["ids"].dtype == torch.int64 and item["labels"].shape == (60, 13)
    np.testing.assert_array_equal(item["floats"].numpy(), floats[start : start + 60].astype(np.float32))
    np.testing.assert_array_equal(item["labels"].numpy(), labels[start : start + 60])
    assert isinstance(ds.floats, np.memmap)


def test_single_frames_have_a_time_axis_of_one(dataset):
    ds = EmbeddedDataset(dataset.path, "train")
    assert len(ds) == ds.frames == dataset.split_frames["train"]
    assert ds[0]["floats"].shape == (1, dataset.feature_spec.float_dim)


def test_iter_batches_visits_every_window_once_and_matches_items(dataset):
    ds = EmbeddedDataset(dataset.path, "val", window=30, stride=7)
    batches = list(ds.iter_batches(batch_size=512, shuffle=True, seed=3))
    assert len(batches) == ds.num_batches(512)
    assert all(b["floats"].shape[1:] == (30, dataset.feature_spec.float_dim) for b in batches)
    # Each window's first row identifies it: all windows, each once.
    floats = np.load(dataset.path / "floats.npy", mmap_mode="r")
    seen = torch.cat([b["labels"][:, 0] for b in batches]).shape[0]
    assert seen == len(ds)
    first = batches[0]
    order = np.sort(ds.starts[np.random.default_rng(3).permutation(len(ds))[:512]])
    np.testing.assert_array_equal(first["floats"][:, 0].numpy(), floats[order].astype(np.float32))
    # Same seed, same batches; another seed, another order.
    again = next(ds.iter_batches(batch_size=512, shuffle=True, seed=3))
    assert torch.equal(again["labels"], first["labels"])
    other = next(ds.iter_batches(batch_size=512, shuffle=True, seed=4))
    assert not torch.equal(other["labels"], first["labels"])
    assert len(list(ds.iter_batches(batch_size=512, drop_last=True))) == len(ds) // 512


def test_unknown_split_is_a_user_error(dataset):
    with pytest.raises(UserError, match="split"):
        EmbeddedDataset(dataset.path, "test")


def test_a_pickled_dataset_reopens_its_memory_maps_instead_of_copying(dataset):
    import pickle

    ds = EmbeddedDataset(dataset.path, "val", window=30)
    blob = pickle.dumps(ds)
    assert len(blob) < 1_000_000  # the arrays (tens of MB) are not in it
    copy = pickle.loads(blob)
    assert isinstance(copy.floats, np.memmap)
    assert torch.equal(copy[5]["floats"], ds[5]["floats"])
