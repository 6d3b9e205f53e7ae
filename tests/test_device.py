"""`--device`: the resolver (CUDA mocked, nothing is allocated on a GPU) and the flag on train, eval and ppo."""

from __future__ import annotations

import json

import pytest
import torch

from exphil_assets.cli.main import main
from exphil_assets.device import check_device_name, resolve_device
from exphil_assets.errors import UserError
from exphil_assets.training.config import resolve_config


@pytest.fixture
def no_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


@pytest.fixture
def two_gpus(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)


# --- the resolver ------------------------------------------------------------------------


def test_auto_is_the_cpu_without_cuda(no_cuda):
    assert resolve_device("auto") == torch.device("cpu")


def test_auto_is_cuda_when_torch_sees_a_gpu(two_gpus):
    assert resolve_device("auto") == torch.device("cuda")


def test_cpu_is_the_cpu_even_with_a_gpu(two_gpus):
    assert resolve_device("cpu") == torch.device("cpu")


def test_cuda_and_cuda_n_resolve_when_the_gpu_exists(two_gpus):
    assert resolve_device("cuda") == torch.device("cuda")
    assert resolve_device(" CUDA:1 ") == torch.device("cuda", 1)


def test_cuda_without_a_gpu_is_a_one_line_user_error_naming_device(no_cuda):
    for name in ("cuda", "cuda:0"):
        with pytest.raises(UserError) as err:
            resolve_device(name)
        message = str(err.value)
        assert message.startswith(f"--device {name}: CUDA is not available") and "\n" not in message


def test_a_gpu_index_beyond_the_machines_is_refused(two_gpus):
    with pytest.raises(UserError, match=r"--device cuda:2: this machine has 2 CUDA device"):
        resolve_device("cuda:2")


@pytest.mark.parametrize("bad", ["gpu", "mps", "cuda:", "cuda:x", "cuda0", "", "cpu:0"])
def test_unknown_device_names_are_refused_naming_the_option(bad):
    with pytest.raises(UserError, match=r"^--device: unknown device .* \(expected auto, cpu, cuda or cuda:N\)"):
        check_device_name(bad)
    with pytest.raises(UserError, match="--device"):
        resolve_device(bad)


# --- the option in each command ---------------------------------------------------------------


def test_train_config_has_device_auto_by_default_and_validates_the_name():
    assert resolve_config(None).device == "auto"
    assert resolve_config(None, {"device": "cpu"}).device == "cpu"
    with pytest.raises(UserError, match="--device: unknown device 'tpu'"):
        resolve_config(None, {"device": "tpu"})


@pytest.mark.parametrize("command", ["train", "eval", "ppo"])
def test_help_of_train_eval_and_ppo_lists_device(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "--device" in out and "cuda:N" in out


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def test_train_with_cuda_unavailable_fails_before_any_work(no_cuda, tmp_path, capsys):
    code = main(["train", "--device", "cuda", "--data", str(tmp_path / "data"), "--models-dir",
                 str(tmp_path / "models"), "--no-dagster", "--no-progress"])  # fmt: skip
    assert code == 2
    assert "--device cuda: CUDA is not available" in _one_line_error(capsys)
    assert not (tmp_path / "models").exists() and not (tmp_path / "data").exists()


def test_train_with_an_unknown_device_names_it(tmp_path, capsys):
    code = main(["train", "--device", "gpu", "--models-dir", str(tmp_path), "--no-dagster"])
    assert code == 2
    assert "--device: unknown device 'gpu'" in _one_line_error(capsys)


def test_eval_with_cuda_unavailable_is_a_one_line_error(no_cuda, tmp_path, capsys):
    code = main(["eval", "--policy", str(tmp_path / "missing"), "--device", "cuda", "--out",
                 str(tmp_path / "r.html"), "--no-progress"])  # fmt: skip
    assert code == 2
    assert "--device cuda: CUDA is not available" in _one_line_error(capsys)


def test_ppo_with_cuda_unavailable_fails_before_loading_the_policy(no_cuda, tmp_path, capsys):
    code = main(["ppo", "--pretrained", str(tmp_path / "missing"), "--mock", "--device", "cuda:0",
                 "--models", str(tmp_path / "models"), "--no-progress"])  # fmt: skip
    assert code == 2
    assert "--device cuda:0: CUDA is not available" in _one_line_error(capsys)  # not "policy not found"


def test_ppo_with_an_unknown_device_names_it(tmp_path, capsys):
    code = main(["ppo", "--pretrained", str(tmp_path / "missing"), "--mock", "--device", "gpu0",
                 "--models", str(tmp_path / "models"), "--no-progress"])  # fmt: skip
    assert code == 2
    assert "--device: unknown device 'gpu0'" in _one_line_error(capsys)


def test_train_on_cpu_records_the_device_in_the_result_and_config_json(tmp_path, capsys):
    from exphil_assets.training.data import synthetic_training_data
    from exphil_assets.training.loop import train

    cfg = resolve_config(None, {"models_dir": str(tmp_path / "models"), "device": "cpu", "hidden": "8",
                                "epochs": 1, "batch_size": 64, "precision": "f32", "threads": 1})  # fmt: skip
    result = train(cfg, data=synthetic_training_data(frames=256, float_dim=12), progress=False)
    assert result.device == "cpu"
    training = json.loads(open(result.files["config"]).read())["training"]
    assert training["device"] == "cpu" and training["torch_device"] == "cpu"
