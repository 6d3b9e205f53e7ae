"""`exphil demo`: simulated replays through the whole chain, as Dagster materializations."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from dagster import AssetKey, DagsterInstance

from exphil_assets.cli.main import main


def test_demo_with_four_games_runs_the_whole_chain(tmp_path: Path, capsys):
    out = tmp_path / "demo"
    argv = ["demo", "--games", "4", "--out", str(out), "--game-frames", "1800", "--epochs", "1"]
    assert main([*argv, "--ppo-timesteps", "512"]) == 0
    printed = capsys.readouterr().out
    assert "ExPhil demo finished" in printed and str(out / "reports") in printed

    replays = sorted(str(p) for p in (out / "replays").glob("*.slp"))
    assert len(replays) == 4
    catalog = pl.read_parquet(out / "data" / "catalog.parquet")
    ok = set(catalog.filter(pl.col("status") == "ok")["path"].to_list())
    assert set(replays) <= ok  # the held-out games are ingested too, by the evaluation
    assert list((out / "models").glob("mlp_imitation_*_policy.safetensors"))
    assert list((out / "models").glob("mlp_ppo_*_policy.safetensors"))
    reports = list((out / "reports").glob("*.html"))
    assert reports and reports[0].stat().st_size > 10_000

    instance = DagsterInstance.from_config(str(out / "dagster_home"))
    for key in ("replay_frames", "embedded_dataset", "imitation_policy", "ppo_policy", "evaluation_report"):
        assert instance.get_latest_materialization_event(AssetKey(key)) is not None, key


def test_demo_refuses_zero_games(tmp_path: Path, capsys):
    assert main(["demo", "--games", "0", "--out", str(tmp_path)]) == 2
    assert "--games" in capsys.readouterr().err
