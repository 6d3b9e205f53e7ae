"""The `evaluation_report` asset: partitions, eager automation, lineage of policies, metadata."""

from __future__ import annotations

from pathlib import Path

import pytest
from dagster import AssetKey, AssetMaterialization, DagsterInstance, MetadataValue, materialize

from exphil_assets.defs.evaluation import evaluate_job, evaluation_report
from exphil_assets.defs.partitions import backbone_partitions
from exphil_assets.defs.resources import ExphilStorage
from exphil_assets.features.constants import EMBEDDING_VERSION
from exphil_assets.features.state import feature_spec
from exphil_assets.nets.policy import Policy, PolicyConfig
from exphil_assets.training.checkpoints import export_policy

SMALL_REPLAYS = ("peppi__buttons_abxy.slp", "peppi__dash_back.slp")


def _export(models: Path, name: str, backbone: str = "mlp", kind: str | None = None) -> Path:
    spec = feature_spec()
    config = PolicyConfig(spec.float_dim, spec.id_vocab_sizes, backbone=backbone, hidden=(16, 16))
    stem = models / f"{backbone}_{name}_20260101T000000"
    extra = {"run": stem.name, **({"kind": kind} if kind else {})}
    weights = Path(f"{stem}_policy.safetensors")
    export_policy(
        weights, Path(f"{stem}_policy.json"), Policy(config).state_dict(), config, spec, EMBEDDING_VERSION, backbone,
        extra=extra,
    )  # fmt: skip
    return weights


@pytest.fixture
def setup(tmp_path: Path, shared_replays: Path):
    replays = tmp_path / "replays"
    replays.mkdir()
    for name in SMALL_REPLAYS:
        (replays / name).symlink_to(shared_replays / name)
    storage = ExphilStorage(
        data_root=str(tmp_path / "data"),
        models_dir=str(tmp_path / "models"),
        reports_dir=str(tmp_path / "reports"),
    )
    run_config = {
        "ops": {
            "evaluation_report": {
                "config": {
                    "replays": str(replays),
                    "closed_loop_games": 1,
                    "closed_loop_frames": 30,
                    "latency_steps": 5,
                    "threads": 1,
                }
            }
        }
    }
    return tmp_path, storage, run_config


def test_asset_is_partitioned_by_backbone_and_eager_downstream_of_both_policies():
    spec = evaluation_report.specs_by_key[AssetKey("evaluation_report")]
    assert evaluation_report.partitions_def == backbone_partitions
    assert {dep.asset_key for dep in spec.deps} == {AssetKey("imitation_policy"), AssetKey("ppo_policy")}
    condition = spec.automation_condition
    assert condition is not None and condition.get_label() == "eager"
    assert evaluate_job.name == "evaluate"


def test_materialization_evaluates_the_recorded_imitation_and_ppo_policies(setup):
    tmp, storage, run_config = setup
    instance = DagsterInstance.ephemeral()
    imitation = _export(tmp / "models", "imit")
    ppo = _export(tmp / "models", "ppo", kind="ppo")
    _export(tmp / "models", "newer_unrecorded")  # lineage wins over the newest file
    for key, path in (("imitation_policy", imitation), ("ppo_policy", ppo)):
        instance.report_runless_asset_event(
            AssetMaterialization(
                key, partition="mlp", metadata={"policy_path": MetadataValue.path(str(path))}
            )
        )

    result = materialize(
        [evaluation_report], partition_key="mlp", resources={"storage": storage}, run_config=run_config,
        instance=instance,
    )  # fmt: skip
    assert result.success
    meta = result.asset_materializations_for_node("evaluation_report")[0].metadata
    assert set(meta["policies"].value) == {str(imitation), str(ppo)}  # the recorded lineage, ranked
    for key in (
        "val_loss",
        "button_accuracy",
        "accuracy_main_x",
        "latency_p99_ms",
        "win_rate",
        "ppo_val_loss",
    ):
        assert isinstance(meta[key].value, float), key
    assert meta["held_out_replays"].value == len(SMALL_REPLAYS)
    report = Path(meta["report_path"].value)
    assert report.is_file() and report.parent == tmp / "reports" and report.name.startswith("mlp_eval_")
    assert Path(meta["report_json_path"].value).is_file()
    for figure in ("loss_curves", "button_press_rates", "main_stick_heatmap", "c_stick_heatmap"):
        assert "(data:image/png;base64," in meta[figure].value
    assert "imit" in meta["comparison"].value and "ppo" in meta["comparison"].value


def test_without_an_imitation_policy_the_run_fails_with_a_clear_reason(setup):
    _, storage, run_config = setup
    result = materialize(
        [evaluation_report], partition_key="lstm", resources={"storage": storage}, run_config=run_config,
        instance=DagsterInstance.ephemeral(), raise_on_error=False,
    )  # fmt: skip
    assert not result.success
    failure = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"][0]
    assert "no lstm imitation policy" in str(failure.event_specific_data.error)
