"""The compiled CPU kernels: the build, its cache, its failures, and the dropout kernel's masks."""

from __future__ import annotations

import shutil

import pytest
import torch
import torch.nn.functional as F

from exphil_assets.nets import cpu_kernels as kernels_module
from exphil_assets.nets.cpu_kernels import KernelBuildError, build_library, cpu_kernels
from exphil_assets.nets.dropout import Dropout

HAS_COMPILER = bool(shutil.which("cc") or shutil.which("gcc"))
needs_compiler = pytest.mark.skipif(not HAS_COMPILER, reason="no C compiler (cc or gcc) on this machine")
THRESHOLD_P10 = round(0.1 * 65536) - 32768


@pytest.fixture
def fresh_kernels(monkeypatch, tmp_path):
    """cpu_kernels() builds again, into tmp_path, and the process's own choice is restored afterwards."""
    monkeypatch.setenv("EXPHIL_KERNEL_CACHE", str(tmp_path))
    cpu_kernels.cache_clear()
    yield tmp_path
    cpu_kernels.cache_clear()


@needs_compiler
def test_the_library_is_built_once_and_then_loaded_from_the_cache(tmp_path):
    first = build_library(tmp_path)
    built_at = first.stat().st_mtime_ns
    again = build_library(tmp_path)
    assert again == first and again.stat().st_mtime_ns == built_at
    assert [p.name for p in tmp_path.iterdir()] == [first.name]  # no temporary files left behind


def test_a_missing_compiler_is_an_error_that_names_it(tmp_path):
    with pytest.raises(KernelBuildError, match="/no/such/cc"):
        build_library(tmp_path, compiler="/no/such/cc")
    assert list(tmp_path.iterdir()) == []


def test_a_failing_compiler_is_an_error_with_its_message(tmp_path):
    with pytest.raises(KernelBuildError, match="failed"):
        build_library(tmp_path, compiler="false")  # runs, prints nothing, exits 1
    assert list(tmp_path.iterdir()) == []


def test_the_switch_turns_the_kernels_off(fresh_kernels, monkeypatch):
    monkeypatch.setenv("EXPHIL_CPU_KERNELS", "0")
    assert cpu_kernels() is None
    assert list(fresh_kernels.iterdir()) == []


def test_an_unavailable_build_warns_and_dropout_falls_back_to_torch_ops(fresh_kernels, monkeypatch):
    monkeypatch.setenv("CC", "/no/such/cc")
    with pytest.warns(RuntimeWarning, match="compiled CPU kernels are unavailable.*/no/such/cc"):
        assert cpu_kernels() is None
    torch.manual_seed(0)
    y = Dropout(0.1).train()(torch.ones(400, 500))
    assert abs(float((y == 0).float().mean()) - 0.1) < 0.005


@needs_compiler
def test_the_mask_is_a_function_of_the_seed():
    kernels = cpu_kernels()
    x = torch.ones(300, 200)
    a = kernels.dropout(x, THRESHOLD_P10, 1.0, seed=7)
    assert torch.equal(a, kernels.dropout(x, THRESHOLD_P10, 1.0, seed=7))
    b = kernels.dropout(x, THRESHOLD_P10, 1.0, seed=8)
    assert float((a != b).float().mean()) == pytest.approx(2 * 0.1 * 0.9, abs=0.01)  # independent masks
    # seeds that differ only in their high 32 bits give other masks too
    assert not torch.equal(a, kernels.dropout(x, THRESHOLD_P10, 1.0, seed=7 + (1 << 32)))


@needs_compiler
def test_neighbouring_elements_are_kept_independently():
    kept = cpu_kernels().dropout(torch.ones(1 << 20), THRESHOLD_P10, 1.0, seed=3) != 0
    k = kept.float()
    assert float(k.mean()) == pytest.approx(0.9, abs=0.002)
    for lag in (1, 2, 16):
        assert abs(float(torch.corrcoef(torch.stack([k[:-lag], k[lag:]]))[0, 1])) < 0.01


@needs_compiler
def test_nan_and_inf_still_reach_the_output():
    x = torch.full((1000,), float("nan"))
    x[::2] = float("inf")
    y = cpu_kernels().dropout(x, THRESHOLD_P10, 1.0 / 0.9, seed=1)
    assert torch.isnan(y[1::2]).all() and not torch.isfinite(y).any()


@needs_compiler
def test_bad_tensors_are_refused():
    kernels = cpu_kernels()
    with pytest.raises(ValueError, match="contiguous float32 CPU"):
        kernels.dropout(torch.ones(4, 4, dtype=torch.float64), THRESHOLD_P10, 1.0, seed=1)
    with pytest.raises(ValueError, match="contiguous float32 CPU"):
        kernels.dropout(torch.ones(4, 6).t(), THRESHOLD_P10, 1.0, seed=1)


@needs_compiler
def test_the_library_shares_torchs_openmp_runtime():
    if not kernels_module._torch_uses_gnu_openmp():
        pytest.skip("torch does not run GNU OpenMP here: the kernels are built single-threaded")
    cpu_kernels()
    with open("/proc/self/maps") as f:
        gomp = {line.split()[-1] for line in f if "libgomp" in line}
    assert len(gomp) == 1, gomp  # one OpenMP runtime, so one thread pool


@needs_compiler
@pytest.mark.parametrize("shape", [(256, 512), (73, 256), (1, 5), (17, 1), (300, 33)])
def test_the_transpose_kernel_equals_torchs(shape):
    x = torch.randn(*shape)
    y = cpu_kernels().transpose(x)
    assert y.is_contiguous() and torch.equal(y, x.t())


@needs_compiler
def test_the_transpose_kernel_refuses_views_it_would_misread():
    with pytest.raises(ValueError, match="contiguous 2-D float32"):
        cpu_kernels().transpose(torch.randn(8, 6).t())


@needs_compiler
def test_gelu_dropout_is_torchs_gelu_under_the_dropout_mask():
    kernels = cpu_kernels()
    pre = torch.randn(300, 257) * 4
    pre[0, :4] = torch.tensor([0.0, -30.0, 30.0, 1e-30])
    out = kernels.gelu_dropout(pre, THRESHOLD_P10, 1.0 / 0.9, seed=11)
    mask = kernels.dropout(torch.ones_like(pre), THRESHOLD_P10, 1.0 / 0.9, seed=11)  # the same mask
    torch.testing.assert_close(out, F.gelu(pre) * mask, rtol=1e-5, atol=2e-6)
    no_drop = kernels.gelu_dropout(pre, -32768, 1.0, seed=11)
    torch.testing.assert_close(no_drop, F.gelu(pre), rtol=1e-5, atol=2e-6)


@needs_compiler
def test_gelu_dropout_backward_is_autograds():
    kernels = cpu_kernels()
    pre, grad = torch.randn(200, 129) * 3, torch.randn(200, 129)
    mask = kernels.dropout(torch.ones_like(pre), THRESHOLD_P10, 1.0 / 0.9, seed=5)
    reference = torch.ops.aten.gelu_backward(grad * mask, pre)
    ours = kernels.gelu_dropout_backward(grad, pre, THRESHOLD_P10, 1.0 / 0.9, seed=5)
    torch.testing.assert_close(ours, reference, rtol=1e-5, atol=2e-6)
    with pytest.raises(ValueError, match="grad"):
        kernels.gelu_dropout_backward(grad[:10], pre, THRESHOLD_P10, 1.0, seed=5)


@needs_compiler
def test_gather_sum_of_squares_concatenates_and_sums():
    kernels = cpu_kernels()
    parts = [torch.randn(70000), None, torch.randn(3, 5), torch.randn(100000)]
    sizes = [70000, 11, 15, 100000]
    out = torch.full((sum(sizes),), float("nan"))
    total = kernels.gather_sum_of_squares(parts, sizes, out)
    expected = torch.cat([parts[0], torch.zeros(11), parts[2].reshape(-1), parts[3]])
    assert torch.equal(out, expected)
    assert total == pytest.approx(float(expected.double().square().sum()), rel=1e-12)
    with pytest.raises(ValueError, match="add up to"):
        kernels.gather_sum_of_squares(parts, [70000, 11, 15, 99999], out)
    with pytest.raises(ValueError, match="part 2 has 15 elements, not 16"):
        kernels.gather_sum_of_squares(parts, [70000, 10, 16, 100000], out)
