"""`exphil lineage`: a trained policy leads back to its config and its replay files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from exphil_assets.cli.main import main
from exphil_assets.replays.batches import register_batch
from exphil_assets.replays.ingest import ingest_replays
from exphil_assets.training.config import resolve_config
from exphil_assets.training.lineage import policy_lineage, run_config_path
from exphil_assets.training.run import run_train

FILES = ["exphil__fox_ms_float.slp", "peppi__v3.18.slp", "peppi__shield_drop.slp", "peppi__dash_back.slp"]


@pytest.fixture(scope="module")
def trained(shared_replays: Path, tmp_path_factory) -> tuple[Path, Path, str]:
    root = tmp_path_factory.mktemp("lineage")
    data, models = root / "data", root / "models"
    files = [shared_replays / f for f in FILES]
    key = register_batch(data, files)
    ingest_replays(files, data, batch=key, progress=False)
    cfg = resolve_config(
        "quick", {"epochs": 1, "hidden": (16,), "val_split": 0.5, "models_dir": str(models), "precision": "f32"}
    )
    result = run_train(cfg, data, progress=False)
    return Path(result.files["policy"]), data, key


def test_lineage_names_every_replay_with_its_batch_and_the_config(trained):
    policy, data, key = trained
    lineage = policy_lineage(policy, data)
    assert {Path(r.path).name for r in lineage.replays} == set(FILES)
    assert {r.batch for r in lineage.replays} == {key}
    assert {r.split for r in lineage.replays} <= {"train", "val"}
    run = json.loads(run_config_path(policy).read_text())
    assert lineage.dataset_id == run["provenance"]["dataset_id"]
    assert lineage.training["hidden"] == [16]


def test_lineage_cli_prints_json(trained, capsys):
    policy, data, _ = trained
    assert main(["lineage", "--policy", str(policy), "--data", str(data), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["replays"]) == len(FILES) and out["config_hash"]


def test_lineage_of_a_missing_policy_is_a_one_line_error(tmp_path, capsys):
    assert main(["lineage", "--policy", str(tmp_path / "nope_policy.json")]) == 2
    err = capsys.readouterr().err
    assert "nope" in err and len(err.strip().splitlines()) == 1
