"""The evaluation pipeline on real (small) shared replays with small exported policies."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from exphil_assets.errors import UserError
from exphil_assets.evaluation.evaluate import EvalOptions, evaluate_policies, loss_history
from exphil_assets.evaluation.report import EvalReport
from exphil_assets.features.constants import EMBEDDING_VERSION
from exphil_assets.features.dataset import DatasetConfig, build_dataset
from exphil_assets.features.state import feature_spec
from exphil_assets.nets.policy import Policy, PolicyConfig
from exphil_assets.replays.ingest import ingest_replays
from exphil_assets.training.checkpoints import export_policy

SMALL_REPLAYS = (
    "peppi__buttons_abxy.slp",
    "peppi__cstick_udlr.slp",
    "peppi__dash_back.slp",
    "peppi__shield_drop.slp",
)
WINDOW = 30
FAST = EvalOptions(latency_steps=5, progress=False)


def export_tiny_policy(
    models: Path, backbone: str, config_json: dict | None = None, float_dim: int | None = None
) -> Path:
    """An untrained policy exported as training would, with an optional ..._config.json."""
    spec = feature_spec()
    config = PolicyConfig(
        float_dim or spec.float_dim,
        spec.id_vocab_sizes,
        backbone=backbone,
        hidden=(16, 16),
        window_size=WINDOW,
    )
    stem = models / f"{backbone}_tiny_20260101T000000"
    export_policy(
        Path(f"{stem}_policy.safetensors"),
        Path(f"{stem}_policy.json"),
        Policy(config).state_dict(),
        config,
        spec,
        EMBEDDING_VERSION,
        backbone,
        extra={"run": stem.name},
    )
    if config_json is not None:
        Path(f"{stem}_config.json").write_text(json.dumps(config_json))
    return Path(f"{stem}_policy.safetensors")


@pytest.fixture(scope="module")
def replay_folder(shared_replays: Path, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("eval_replays")
    for name in SMALL_REPLAYS:
        (folder / name).symlink_to(shared_replays / name)
    return folder


@pytest.fixture(scope="module")
def folder_report(replay_folder: Path, tmp_path_factory) -> tuple[EvalReport, Path]:
    tmp = tmp_path_factory.mktemp("eval_folder")
    history = {"results": {"history": [{"epoch": 0, "train": {"loss": 9.0}, "val": {"loss": 9.5}}]}}
    mlp = export_tiny_policy(tmp / "models", "mlp", {"training": {"temporal": False}, **history})
    lstm = export_tiny_policy(tmp / "models", "lstm", {"training": {"temporal": True}})
    report = evaluate_policies(
        [mlp, lstm.with_suffix(".json")], data_root=tmp / "data", replays=replay_folder, options=FAST
    )
    return report, tmp / "data"


def test_replay_folder_is_held_out_whole_and_policies_are_ranked_by_loss(folder_report):
    report, _ = folder_report
    assert report.data.kind == "replays" and report.data.split == "all"
    assert report.data.files == len(SMALL_REPLAYS)
    losses = [p.metrics.loss for p in report.policies]
    assert losses == sorted(losses)
    assert [r.rank for r in report.comparison] == [1, 2]
    assert [r.name for r in report.comparison] == [p.summary.name for p in report.policies]
    assert {p.summary.backbone for p in report.policies} == {"mlp", "lstm"}


def test_mlp_sees_every_frame_and_lstm_whole_windows(folder_report):
    report, data_root = folder_report
    from exphil_assets.features.dataset import load_dataset

    manifest = load_dataset(data_root / "datasets" / report.data.dataset_id)
    lengths = [s.length for s in manifest.segments]
    by_backbone = {p.summary.backbone: p for p in report.policies}
    assert by_backbone["mlp"].metrics.frames == report.data.frames == sum(lengths)
    assert by_backbone["lstm"].metrics.frames == sum(n // WINDOW * WINDOW for n in lengths)


def test_each_policy_has_latency_samples_and_history(folder_report):
    report, _ = folder_report
    by_backbone = {p.summary.backbone: p for p in report.policies}
    mlp = by_backbone["mlp"]
    assert mlp.latency is not None and mlp.latency.steps == 5
    assert len(mlp.samples) == 8
    assert set(mlp.samples[0].matches) == {"buttons", "main_x", "main_y", "c_x", "c_y", "shoulder"}
    assert "ego %" in mlp.samples[0].state
    assert mlp.history.epochs == [1] and mlp.history.val_loss == [9.5]
    assert by_backbone["lstm"].history.epochs == []  # no history recorded
    rebuilt = Policy(PolicyConfig.from_dict(mlp.summary.policy_config))
    assert mlp.summary.parameters == sum(p.numel() for p in rebuilt.parameters())
    assert mlp.frames_per_second > 0


def test_report_survives_a_json_round_trip(folder_report):
    report, _ = folder_report
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert EvalReport.from_dict(data).to_dict() == report.to_dict()


def test_max_files_limits_the_held_out_replays(replay_folder, tmp_path):
    policy = export_tiny_policy(tmp_path / "models", "mlp")
    report = evaluate_policies(
        [policy],
        data_root=tmp_path / "data",
        replays=replay_folder,
        options=EvalOptions(max_files=2, latency_steps=0, progress=False),
    )
    assert report.data.files == 2
    assert report.policies[0].latency is None


def _own_dataset(replay_folder: Path, root: Path, val_split: float) -> str:
    ingest_replays(replay_folder, root, progress=False)
    return build_dataset(root, DatasetConfig(val_split=val_split)).dataset_id


def test_own_validation_split_is_used_without_replays(replay_folder, tmp_path):
    root = tmp_path / "data"
    ds_id = _own_dataset(replay_folder, root, val_split=0.5)
    from exphil_assets.features.dataset import load_dataset

    manifest = load_dataset(root / "datasets" / ds_id)
    val = [s for s in manifest.segments if s.split == "val"]
    assert val, "the fixture needs at least one validation replay"
    policy = export_tiny_policy(tmp_path / "models", "mlp", {"provenance": {"dataset_id": ds_id}})
    report = evaluate_policies([policy], data_root=root, options=EvalOptions(latency_steps=0, progress=False))
    assert (report.data.kind, report.data.split, report.data.dataset_id) == ("dataset", "val", ds_id)
    assert report.data.files == len({s.sha256 for s in val})
    assert report.policies[0].metrics.frames == sum(s.length for s in val)


def test_a_dataset_without_validation_frames_names_the_fix(replay_folder, tmp_path):
    root = tmp_path / "data"
    ds_id = _own_dataset(replay_folder, root, val_split=0.0)
    policy = export_tiny_policy(tmp_path / "models", "mlp", {"provenance": {"dataset_id": ds_id}})
    with pytest.raises(UserError, match=r"no 'val' frames.*--replays"):
        evaluate_policies([policy], data_root=root, options=FAST)


def test_a_policy_with_other_features_is_refused(replay_folder, tmp_path):
    spec = feature_spec()
    policy = export_tiny_policy(tmp_path / "models", "mlp", float_dim=spec.float_dim + 1)
    meta_path = policy.with_suffix(".json")
    meta = json.loads(meta_path.read_text())
    meta["feature_spec"]["float_dim"] = spec.float_dim + 1
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(UserError, match="float features"):
        evaluate_policies([policy], data_root=tmp_path / "data", replays=replay_folder, options=FAST)


def test_loss_history_reads_epochs_one_based():
    config = {
        "results": {
            "history": [
                {"epoch": 0, "train": {"loss": 2.0}, "val": None},
                {"epoch": 1, "train": {"loss": 1.5}, "val": {"loss": 1.7}},
            ]
        }
    }
    history = loss_history(config)
    assert history.epochs == [1, 2]
    assert history.train_loss == [2.0, 1.5]
    assert history.val_loss == [None, 1.7]
    assert loss_history({}).epochs == []
