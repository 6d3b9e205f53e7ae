"""Frame-table checks: they pass on real tables and catch broken ones."""

from __future__ import annotations

import shutil

import pyarrow as pa
import pyarrow.parquet as pq

from exphil_assets.replays.catalog import read_catalog
from exphil_assets.replays.validate import check_frame_tables, frame_table_problems


def test_every_ingested_shared_table_passes(ingested_shared_data):
    report = check_frame_tables(ingested_shared_data)
    assert report.passed, report.problems
    assert report.checked == 45
    assert report.frames == read_catalog(ingested_shared_data)["frames"].sum()


def _copy_table(ingested_shared_data, tmp_path):
    row = (
        read_catalog(ingested_shared_data)
        .filter(read_catalog(ingested_shared_data)["status"] == "ok")
        .row(0, named=True)
    )
    target = tmp_path / f"{row['sha256']}.parquet"
    shutil.copy(ingested_shared_data / row["frame_table"], target)
    return target


def test_repeated_frame_ids_and_nan_positions_are_reported(ingested_shared_data, tmp_path):
    target = _copy_table(ingested_shared_data, tmp_path)
    table = pq.read_table(target)
    frame = table.column("frame").to_pylist()
    frame[5] = frame[4]
    x = table.column("p1_x").to_pylist()
    x[10] = float("nan")
    table = table.set_column(table.schema.get_field_index("frame"), "frame", pa.array(frame, pa.int32()))
    table = table.set_column(table.schema.get_field_index("p1_x"), "p1_x", pa.array(x, pa.float32()))
    pq.write_table(table, target)
    _, problems = frame_table_problems(target)
    assert "frame ids are not unique and increasing" in problems
    assert "1 non-finite values in p1_x" in problems


def test_wrong_schema_version_is_reported(ingested_shared_data, tmp_path):
    target = _copy_table(ingested_shared_data, tmp_path)
    table = pq.read_table(target)
    meta = dict(table.schema.metadata)
    meta[b"exphil.frame_schema_version"] = b"0"
    pq.write_table(table.replace_schema_metadata(meta), target)
    _, problems = frame_table_problems(target)
    assert problems == ["schema version '0', expected 1"]
