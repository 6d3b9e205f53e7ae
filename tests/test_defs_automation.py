"""The new-replays sensor, the retraining chain and the nightly schedule."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import pytest
from dagster import (
    DagsterInstance,
    DagsterRunStatus,
    SensorResult,
    SkipReason,
    build_run_status_sensor_context,
    build_schedule_context,
    build_sensor_context,
)

from exphil_assets.definitions import defs, nightly_retraining, retrain_after_dataset
from exphil_assets.defs.automation import new_replays_sensor
from exphil_assets.defs.resources import ExphilStorage
from exphil_assets.replays.batches import read_batch


def _land(folder: Path, name: str, source: Path, age_s: float = 60.0) -> Path:
    """Copy a replay into the watched folder with an mtime `age_s` in the past."""
    target = folder / name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    past = dt.datetime.now().timestamp() - age_s
    os.utime(target, (past, past))
    return target


@pytest.fixture
def storage(tmp_path: Path) -> ExphilStorage:
    (tmp_path / "replays").mkdir()
    return ExphilStorage(data_root=str(tmp_path / "data"), replays_dir=str(tmp_path / "replays"))


def _tick(storage: ExphilStorage, cursor: str | None = None) -> SensorResult | SkipReason:
    """One sensor evaluation, as a restarted daemon would run it: only the cursor carries over."""
    with DagsterInstance.ephemeral() as instance:
        context = build_sensor_context(
            instance=instance, cursor=cursor, resources={"storage": storage}, definitions=defs
        )
        return new_replays_sensor(context)


def _requests(result: SensorResult | SkipReason) -> list:
    return [] if isinstance(result, SkipReason) else list(result.run_requests or [])


def test_sensor_declares_its_target():
    assert [t.job_name for t in new_replays_sensor.targets] == ["ingest"]
    assert defs.resolve_sensor_def("new_replays_sensor").default_status.value == "STOPPED"


def test_no_new_files_no_run(storage: ExphilStorage):
    # evaluate_tick works for skips: it runs the sensor the way the daemon does.
    with DagsterInstance.ephemeral() as instance:
        context = build_sensor_context(instance=instance, resources={"storage": storage}, definitions=defs)
        result = new_replays_sensor.evaluate_tick(context)
    assert result.run_requests == []
    assert "no new replays" in (result.skip_message or "")


def test_two_new_files_add_a_partition_and_request_its_ingestion(storage, shared_replays):
    folder = Path(storage.replays_dir)
    landed = {
        _land(folder, "a.slp", shared_replays / "peppi__v3.18.slp"),
        _land(folder, "sub/b.slp", shared_replays / "peppi__shield_drop.slp"),
    }
    result = _tick(storage)
    assert len(_requests(result)) == 1
    key = result.run_requests[0].partition_key
    assert result.run_requests[0].run_key == key
    (add,) = result.dynamic_partitions_requests
    assert add.partitions_def_name == "replay_batches" and list(add.partition_keys) == [key]
    assert set(read_batch(storage.data_path(), key)) == {p.resolve() for p in landed}


def test_cursor_survives_restart(storage, shared_replays):
    folder = Path(storage.replays_dir)
    _land(folder, "a.slp", shared_replays / "peppi__v3.18.slp")
    first = _tick(storage)
    assert len(_requests(first)) == 1
    # A new sensor process starts from the stored cursor: the old file is not requested again.
    again = _tick(storage, cursor=first.cursor)
    assert _requests(again) == [] and "no new replays" in again.skip_message
    _land(folder, "c.slp", shared_replays / "peppi__shield_drop.slp")
    third = _tick(storage, cursor=first.cursor)
    assert len(_requests(third)) == 1
    assert [p.name for p in read_batch(storage.data_path(), third.run_requests[0].partition_key)] == ["c.slp"]


def test_file_still_being_written_waits(storage, shared_replays):
    _land(Path(storage.replays_dir), "live.slp", shared_replays / "peppi__v3.18.slp", age_s=0.0)
    assert _requests(_tick(storage)) == []


def test_sensor_skips_a_missing_replay_folder(tmp_path):
    result = _tick(ExphilStorage(data_root=str(tmp_path / "d"), replays_dir=str(tmp_path / "nope")))
    assert isinstance(result, SkipReason) and "does not exist" in result.skip_message


def test_schedule_requests_one_run_per_backbone_with_run_keys(monkeypatch):
    monkeypatch.setenv("EXPHIL_RETRAIN_BACKBONES", "mlp,mamba")
    when = dt.datetime(2026, 11, 25, 3, 0, tzinfo=dt.UTC)
    with DagsterInstance.ephemeral() as instance:
        data = nightly_retraining.evaluate_tick(
            build_schedule_context(
                instance=instance, scheduled_execution_time=when, repository_def=defs.get_repository_def()
            )
        )
    assert [(r.partition_key, r.run_key) for r in data.run_requests] == [
        ("mlp", "nightly-20261125T0300-mlp"),
        ("mamba", "nightly-20261125T0300-mamba"),
    ]
    assert nightly_retraining.job_name == "train_standard"
    assert nightly_retraining.default_status.value == "STOPPED"


def test_schedule_rejects_an_unknown_backbone(monkeypatch):
    monkeypatch.setenv("EXPHIL_RETRAIN_BACKBONES", "mlp,transformer")
    with pytest.raises(ValueError, match="transformer"):
        nightly_retraining(build_schedule_context(scheduled_execution_time=dt.datetime(2026, 11, 25)))


def test_dataset_success_requests_training_of_the_configured_backbones(monkeypatch):
    monkeypatch.setenv("EXPHIL_RETRAIN_BACKBONES", "mlp,gru")
    with DagsterInstance.ephemeral() as instance:
        run = instance.create_run_for_job(
            defs.resolve_job_def("build_dataset"), run_config={}, status=DagsterRunStatus.SUCCESS
        )
        context = build_run_status_sensor_context(
            sensor_name="retrain_after_dataset",
            dagster_instance=instance,
            dagster_run=run,
            dagster_event=_success_event(run),
        )
        requests = retrain_after_dataset(context)
    assert [r.partition_key for r in requests] == ["mlp", "gru"]
    assert len({r.run_key for r in requests}) == 2


def _success_event(run):
    from dagster import DagsterEvent, DagsterEventType

    return DagsterEvent(event_type_value=DagsterEventType.RUN_SUCCESS.value, job_name=run.job_name)


def test_every_job_the_ui_needs_is_defined():
    names = {job.name for job in defs.resolve_all_job_defs()}
    assert {"ingest", "build_dataset", "evaluate", "ppo_finetune"} <= names
    assert {"train_quick", "train_standard", "train_full", "train_mewtwo"} <= names

