"""Replay batches: manifests behind the Dagster `replay_batches` partitions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from exphil_assets.errors import UserError
from exphil_assets.replays.batches import (
    BATCH_KEY_PATTERN,
    batch_key,
    list_batches,
    read_batch,
    register_batch,
)


def test_registered_batch_reads_back_its_files(tmp_path):
    files = [tmp_path / "b.slp", tmp_path / "a.slp"]
    key = register_batch(tmp_path / "data", files)
    assert BATCH_KEY_PATTERN.match(key)
    assert read_batch(tmp_path / "data", key) == sorted(f.resolve() for f in files)
    assert list_batches(tmp_path / "data") == [key]


def test_keys_sort_by_creation_time():
    early = batch_key(["/x.slp"], datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    late = batch_key(["/a.slp"], datetime(2026, 11, 25, 7, 38, 0, tzinfo=UTC))
    assert early.startswith("20260102T030405-")
    assert sorted([late, early]) == [early, late]


def test_unknown_batch_is_a_user_error_naming_the_manifest(tmp_path):
    with pytest.raises(UserError, match="nope.json"):
        read_batch(tmp_path, "nope")


def test_empty_batch_is_refused(tmp_path):
    with pytest.raises(UserError, match="at least one file"):
        register_batch(tmp_path, [])
