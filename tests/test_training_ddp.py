"""Data-parallel training under torchrun: 2 CPU processes, DDP on gloo."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from exphil_assets.training.config import resolve_config
from exphil_assets.training.data import synthetic_training_data
from exphil_assets.training.loop import train

OPTIONS = {"hidden": "16,16", "epochs": 2, "batch_size": 32, "dropout": 0.0, "precision": "f32", "val_split": 0.1,
           "lr": 3e-3, "seed": 5, "device": "cpu"}  # fmt: skip
SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    from exphil_assets.training.config import resolve_config
    from exphil_assets.training.data import synthetic_training_data
    from exphil_assets.training.loop import train
    options = json.loads(sys.argv[2])
    result = train(resolve_config(None, {**options, "models_dir": sys.argv[1]}),
                   data=synthetic_training_data(frames=512, val_frames=64, float_dim=12, seed=3), progress=False)
    print(json.dumps({"rank": int(os.environ["RANK"]), "files": result.files, "steps": result.steps}))
    """
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _torchrun(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
           str(_free_port()), *args]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


# Passes of 8 frames: each rank's 16 samples run in two backwards, DDP syncs only the last one.
@pytest.mark.parametrize("passes", [{}, {"max_frames_per_pass": 8}], ids=["one_pass", "passes_of_8"])
def test_two_ranks_train_the_same_weights_as_one_process(tmp_path, passes):
    options = {**OPTIONS, **passes}
    script = tmp_path / "ddp_train.py"
    script.write_text(SCRIPT)
    proc = _torchrun([str(script), str(tmp_path / "ddp"), json.dumps(options)], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ranks = sorted((json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")),
                   key=lambda r: r["rank"])  # fmt: skip
    assert [r["rank"] for r in ranks] == [0, 1]
    assert ranks[1]["files"] == {} and ranks[0]["files"]  # only rank 0 writes
    assert len(list((tmp_path / "ddp").glob("*.pt"))) == 1
    doc = json.loads(Path(ranks[0]["files"]["config"]).read_text())
    assert doc["training"]["world_size"] == 2

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        single = train(resolve_config(None, {**options, "models_dir": str(tmp_path / "single")}),
                       data=synthetic_training_data(frames=512, val_frames=64, float_dim=12, seed=3), progress=False)
    finally:
        torch.set_num_threads(threads)
    assert single.steps == ranks[0]["steps"]
    # Each rank takes half of every batch; the gradient all-reduce makes it one batch.
    ddp, one = load_file(ranks[0]["files"]["policy"]), load_file(single.files["policy"])
    for key in one:
        torch.testing.assert_close(ddp[key], one[key], rtol=1e-4, atol=5e-5)


@pytest.mark.slow
def test_torchrun_runs_the_cli_on_real_replays(shared_replays, tmp_path):
    models = tmp_path / "models"
    proc = _torchrun(
        ["-m", "exphil_assets.cli.main", "train", "--preset", "quick", "--replays", str(shared_replays), "--data",
         str(tmp_path / "data"), "--models-dir", str(models), "--max-files", "2", "--hidden", "16",
         "--val-split", "0.3", "--device", "cpu", "--no-progress", "--no-dagster"],
        tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert len(list(models.glob("*_policy.safetensors"))) == 1
    (config,) = models.glob("*_config.json")
    assert json.loads(config.read_text())["training"]["world_size"] == 2
    assert proc.stdout.count("trained mlp") == 1  # rank 0 prints the summary
