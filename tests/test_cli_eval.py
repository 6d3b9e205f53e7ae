"""`exphil eval` on a policy trained with `--preset quick` on shared replays, and its bad-input errors."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from exphil_assets.cli.main import main

# Two replays land in training and two in validation with --val-split 0.4 (the split hashes the file).
TRAIN_REPLAYS = ("peppi__v3.18.slp", "exphil__fox_ms_float.slp")
VAL_REPLAYS = ("peppi__buttons_lrzs.slp", "peppi__shield_drop.slp")


@pytest.fixture(scope="module")
def trained(shared_replays: Path, tmp_path_factory) -> dict[str, Path]:
    """A quick-preset MLP trained on four shared replays with a validation split."""
    tmp = tmp_path_factory.mktemp("cli_eval")
    replays = tmp / "replays"
    replays.mkdir()
    for name in TRAIN_REPLAYS + VAL_REPLAYS:
        (replays / name).symlink_to(shared_replays / name)
    code = main(
        ["train", "--preset", "quick", "--replays", str(replays), "--data", str(tmp / "data"),
         "--models-dir", str(tmp / "models"), "--val-split", "0.4", "--threads", "1", "--no-progress", "--no-dagster"]
    )  # fmt: skip
    assert code == 0
    (policy,) = (tmp / "models").glob("*_policy.safetensors")
    (config,) = (tmp / "models").glob("*_config.json")
    return {"tmp": tmp, "policy": policy, "config": config, "data": tmp / "data", "replays": replays}


@pytest.fixture(scope="module")
def evaluated(trained) -> dict:
    tmp = trained["tmp"]
    out, out_json = tmp / "out" / "report.html", tmp / "out" / "report.json"
    code = main(
        ["eval", "--policy", str(trained["policy"]), "--data", str(trained["data"]), "--out", str(out),
         "--json", str(out_json), "--latency-steps", "20", "--closed-loop-games", "1",
         "--closed-loop-frames", "30", "--threads", "1", "--device", "cpu", "--no-progress"]
    )  # fmt: skip
    assert code == 0
    return {"html": out, "json": out_json, "data": json.loads(out_json.read_text())}


def test_eval_of_a_quick_policy_writes_json_and_html(evaluated, trained):
    html = evaluated["html"].read_text()
    assert html.startswith("<!DOCTYPE html>")
    assert trained["policy"].name.removesuffix("_policy.safetensors") in html
    assert html.count('src="data:image/png;base64,') == 6
    data = evaluated["data"]
    assert data["data"]["kind"] == "dataset" and data["data"]["split"] == "val"
    assert data["data"]["files"] == len(VAL_REPLAYS)
    (policy,) = data["policies"]
    assert policy["metrics"]["frames"] == data["data"]["frames"] > 0
    assert set(policy["metrics"]["heads"]) == {"main_x", "main_y", "c_x", "c_y", "shoulder"}
    assert policy["latency"]["steps"] == 20
    assert data["device"] == "cpu" and policy["latency"]["device"] == "cpu"  # --device cpu, reported
    assert len(data["closed_loop"]["scripted"]) == 3


def test_held_out_loss_matches_trainings_validation_loss(evaluated, trained):
    """Same frames, same loss function: evaluation must agree with training's last validation pass."""
    config = json.loads(trained["config"].read_text())
    final_val = config["results"]["final_val_loss"]
    loss = evaluated["data"]["policies"][0]["metrics"]["loss"]
    assert loss == pytest.approx(final_val, rel=2e-3)
    history = evaluated["data"]["policies"][0]["history"]
    assert history["epochs"] == [1] and history["val_loss"] == [pytest.approx(final_val)]


def test_json_without_a_path_prints_the_report_to_stdout(trained, capsys):
    out = trained["tmp"] / "stdout_report.html"
    code = main(
        ["eval", "--policy", str(trained["policy"]), "--replays", str(trained["replays"]), "--data",
         str(trained["data"]), "--max-files", "1", "--out", str(out), "--json", "--latency-steps", "0", "--no-progress"]
    )  # fmt: skip
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert data["data"]["kind"] == "replays" and data["data"]["files"] == 1
    assert out.is_file()


def test_a_missing_policy_is_a_one_line_error(tmp_path, capsys):
    code = main(
        ["eval", "--policy", str(tmp_path / "nope_policy.safetensors"), "--out", str(tmp_path / "r.html")]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "policy description not found" in err and "nope_policy.json" in err


def test_a_missing_replay_folder_is_named(trained, tmp_path, capsys):
    code = main(["eval", "--policy", str(trained["policy"]), "--replays", str(tmp_path / "missing"),
                 "--out", str(tmp_path / "r.html")])  # fmt: skip
    assert code == 2
    assert "--replays: folder not found" in capsys.readouterr().err


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_an_unwritable_output_folder_fails_before_evaluating(trained, tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    code = main(["eval", "--policy", str(trained["policy"]), "--out", str(locked / "sub" / "r.html")])
    assert code == 2
    assert "--out: cannot create folder" in capsys.readouterr().err


def test_an_unwritable_output_path_fails_before_evaluating(trained, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code = main(["eval", "--policy", str(trained["policy"]), "--out", str(blocker / "r.html")])
    assert code == 2
    assert "--out: cannot create folder" in capsys.readouterr().err


def test_bad_counts_are_refused(trained, tmp_path, capsys):
    code = main(
        ["eval", "--policy", str(trained["policy"]), "--max-files", "0", "--out", str(tmp_path / "r.html")]
    )
    assert code == 2
    assert "--max-files must be at least 1" in capsys.readouterr().err
