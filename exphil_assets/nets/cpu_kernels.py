"""Compiled CPU kernels: `cpu_kernels.c`, built with the system's C compiler at first use.

Why: a 512-wide MLP training step (batch 256, 2 cores) is memory-bound outside its
matrix products, and torch runs dropout as several passes over the activations (draw
the random bits on one core, compare, convert, scale, multiply, and multiply again in
the backward), GELU as two more, and oneDNN's weight-gradient products with a strided
copy of their transposed input. The kernels:
- `dropout`: hashes (seed, element index) into the mask and applies it in one pass;
  the backward pass recomputes the mask from the seed, so nothing is stored;
- `gelu_dropout` and its backward: GELU and the same dropout in one pass each way;
- `transpose`: a tiled transpose, ~3x faster than the strided copy;
- `gather_sum_of_squares`: the gradients into one buffer and their squared norm, in one pass.
All run on torch's OpenMP threads where torch uses GNU OpenMP (Linux), else on one.
Together they take a 512-wide MLP step to ~0.88x of its time (interleaved A/B, 2 cores).

The library is built once per source, compiler and CPU (-O3 -march=native) into
$EXPHIL_KERNEL_CACHE, else $XDG_CACHE_HOME/exphil/kernels, else
~/.cache/exphil/kernels. `$CC` names the compiler (default: cc, then gcc).
`EXPHIL_CPU_KERNELS=0` turns the kernels off. Where the build fails (no compiler,
say), the first use warns, with the compiler's message, and training runs on
torch's ops: the same drop rate with other masks, so a run resumed on a machine
without the kernels continues correctly but not bit for bit.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import torch

SOURCE = Path(__file__).with_name("cpu_kernels.c")
SWITCH = "EXPHIL_CPU_KERNELS"  # "0" turns the kernels off
_MAX_ELEMENTS = 1 << 32  # the kernel hashes 32-bit element indices: a larger tensor would repeat masks


class KernelBuildError(RuntimeError):
    """The C compiler is missing or failed; the message says which and why."""


class CpuKernels:
    """The loaded library, with argument checks in front of each kernel."""

    def __init__(self, path: Path):
        self.path = path
        self._lib = ctypes.CDLL(str(path))  # ctypes releases the GIL during each call
        mask = [ctypes.c_int64, ctypes.c_int32, ctypes.c_float, ctypes.c_uint32, ctypes.c_uint32]  # n, threshold, ...
        self._dropout = self._function("exphil_dropout", [ctypes.c_void_p] * 2 + mask)
        self._gelu_dropout = self._function("exphil_gelu_dropout", [ctypes.c_void_p] * 2 + mask)
        self._gelu_dropout_backward = self._function("exphil_gelu_dropout_backward", [ctypes.c_void_p] * 3 + mask)
        self._transpose = self._function("exphil_transpose", [ctypes.c_void_p] * 2 + [ctypes.c_int64] * 2)
        self._gather_sumsq = self._function(
            "exphil_gather_sumsq", [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p]
        )
        self._gather_sumsq.restype = ctypes.c_double

    def _function(self, name: str, argtypes: list) -> ctypes._CFuncPtr:
        fn = getattr(self._lib, name)
        fn.restype = None
        fn.argtypes = argtypes
        return fn

    def dropout(self, x: torch.Tensor, threshold: int, scale: float, seed: int) -> torch.Tensor:
        """x * mask: element i kept (times `scale`) where its 16-bit uniform hashed from (seed, i) is >= threshold.

        x: a contiguous float32 CPU tensor. The same seed gives the same mask for the same numel,
        in this kernel and in the GELU ones.
        """
        out = torch.empty_like(_checked("dropout", x))
        self._dropout(x.data_ptr(), out.data_ptr(), *_mask_args(x, threshold, scale, seed))
        return out

    def gelu_dropout(self, pre: torch.Tensor, threshold: int, scale: float, seed: int) -> torch.Tensor:
        """gelu(pre) (exact, erf) * the mask of `dropout`, in one pass; its erf is within 1.5e-7 of the true erf."""
        out = torch.empty_like(_checked("gelu_dropout", pre))
        self._gelu_dropout(pre.data_ptr(), out.data_ptr(), *_mask_args(pre, threshold, scale, seed))
        return out

    def gelu_dropout_backward(
        self, grad: torch.Tensor, pre: torch.Tensor, threshold: int, scale: float, seed: int
    ) -> torch.Tensor:
        """d loss / d pre of gelu_dropout, from d loss / d out."""
        if grad.shape != pre.shape:
            raise ValueError(f"CpuKernels.gelu_dropout_backward: grad {tuple(grad.shape)} vs pre {tuple(pre.shape)}")
        out = torch.empty_like(_checked("gelu_dropout_backward", pre))
        _checked("gelu_dropout_backward", grad)
        self._gelu_dropout_backward(grad.data_ptr(), pre.data_ptr(), out.data_ptr(),
                                    *_mask_args(pre, threshold, scale, seed))  # fmt: skip
        return out

    def gather_sum_of_squares(self, parts: list[torch.Tensor | None], sizes: list[int], out: torch.Tensor) -> float:
        """Copy `parts` end to end into `out` (a None part: `sizes[k]` zeros); returns their sum of squares.

        Parts: contiguous float32 CPU tensors of numel sizes[k], which add up to out.numel().
        One pass where concatenating and then taking the norm are two.
        """
        _checked("gather_sum_of_squares", out)
        if len(parts) != len(sizes) or sum(sizes) != out.numel():
            raise ValueError(f"CpuKernels.gather_sum_of_squares: sizes add up to {sum(sizes)}, out has {out.numel()}")
        pointers = (ctypes.c_void_p * len(parts))()
        for k, (part, size) in enumerate(zip(parts, sizes, strict=True)):
            if part is not None:
                if _checked("gather_sum_of_squares", part).numel() != size:
                    raise ValueError(f"CpuKernels.gather_sum_of_squares: part {k} has {part.numel()} elements, not {size}")
                pointers[k] = part.data_ptr()
        counts = (ctypes.c_int64 * len(sizes))(*sizes)
        total = self._gather_sumsq(ctypes.addressof(pointers), ctypes.addressof(counts), len(parts), out.data_ptr())
        if total < 0:
            raise MemoryError("CpuKernels.gather_sum_of_squares: could not allocate its chunk tables")
        return total

    def transpose(self, x: torch.Tensor) -> torch.Tensor:
        """x [R, C] contiguous float32 on the CPU -> x.t() as a new contiguous [C, R] tensor."""
        if x.dtype != torch.float32 or x.device.type != "cpu" or not x.is_contiguous() or x.dim() != 2:
            raise ValueError(f"CpuKernels.transpose: needs a contiguous 2-D float32 CPU tensor, got {x.dtype} "
                             f"{tuple(x.shape)} on {x.device}")  # fmt: skip
        out = torch.empty(x.shape[1], x.shape[0], dtype=x.dtype)
        self._transpose(x.data_ptr(), out.data_ptr(), x.shape[0], x.shape[1])
        return out


def _checked(kernel: str, x: torch.Tensor) -> torch.Tensor:
    if x.dtype != torch.float32 or x.device.type != "cpu" or not x.is_contiguous():
        raise ValueError(f"CpuKernels.{kernel}: needs a contiguous float32 CPU tensor, got {x.dtype} on {x.device}")
    if x.numel() >= _MAX_ELEMENTS:
        raise ValueError(f"CpuKernels.{kernel}: at most {_MAX_ELEMENTS - 1} elements, got {x.numel()}")
    return x


def _mask_args(x: torch.Tensor, threshold: int, scale: float, seed: int) -> tuple[int, int, float, int, int]:
    return x.numel(), threshold, scale, seed & 0xFFFFFFFF, (seed >> 32) & 0xFFFFFFFF


@functools.cache
def cpu_kernels() -> CpuKernels | None:
    """The kernels of this process, built or loaded at the first call; None when off or unavailable (warned once)."""
    if os.environ.get(SWITCH, "1").strip() == "0":
        return None
    try:
        return CpuKernels(build_library(kernel_cache_dir()))
    except (KernelBuildError, OSError) as exc:
        warnings.warn(
            f"exphil: the compiled CPU kernels are unavailable, so dropout, GELU, transposes and the gradient "
            f"gather run on torch's ops (CPU training ~10% slower). {exc} Set {SWITCH}=0 to skip the build.",
            RuntimeWarning,
            stacklevel=2,
        )
        return None


def kernel_cache_dir() -> Path:
    if os.environ.get("EXPHIL_KERNEL_CACHE"):
        return Path(os.environ["EXPHIL_KERNEL_CACHE"])
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]) / "exphil" / "kernels"
    try:
        return Path.home() / ".cache" / "exphil" / "kernels"
    except RuntimeError as exc:  # no home directory (some service accounts)
        raise KernelBuildError(f"No cache directory for the build ({exc}); set $EXPHIL_KERNEL_CACHE.") from exc


def build_library(cache: Path, compiler: str | None = None) -> Path:
    """Compile cpu_kernels.c into `cache` unless a library built from the same inputs is there; returns its path."""
    cc = compiler or os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not cc:
        raise KernelBuildError("No C compiler found (set $CC, or install gcc).")
    inputs = [SOURCE.read_bytes(), _compiler_version(cc).encode(), _cpu_identity()]
    failure = KernelBuildError("no compiler flags to try")
    for flags in _flag_sets():
        key = hashlib.sha256(b"\0".join([*inputs, " ".join(flags).encode()]))
        target = cache / f"cpu_kernels-{key.hexdigest()[:16]}.so"
        if target.exists():
            return target
        try:
            _compile(cc, flags, target)
            return target
        except KernelBuildError as exc:
            failure = exc  # the plainest flags' error, once all have failed, is the one to show
    raise failure


def _flag_sets() -> list[list[str]]:
    """Compiler flags to try, fastest first."""
    base = ["-O3", "-fPIC", "-shared"]
    sets = [base + ["-march=native"], base]
    if _torch_uses_gnu_openmp():
        # libgomp.so.1 resolves to the copy torch has loaded: one thread pool, not two.
        sets.insert(0, base + ["-march=native", "-fopenmp"])
    return sets


def _compile(cc: str, flags: list[str], target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".build-", suffix=".so")
    os.close(fd)
    try:
        try:
            done = subprocess.run([cc, *flags, "-o", tmp, str(SOURCE)], capture_output=True, text=True, timeout=120)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise KernelBuildError(f"{cc} could not run: {exc}.") from exc
        if done.returncode != 0:
            message = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise KernelBuildError(f"{cc} {' '.join(flags)} failed: {' '.join(message)}")
        os.replace(tmp, target)  # atomic: a concurrent build (another DDP rank) replaces it with the same bytes
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _compiler_version(cc: str) -> str:
    try:
        done = subprocess.run([cc, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise KernelBuildError(f"The C compiler {cc!r} could not run: {exc}.") from exc
    return f"{cc} {done.stdout.strip().splitlines()[0] if done.stdout.strip() else ''}"


def _cpu_identity() -> bytes:
    """What -march=native depends on: a library built for one CPU may crash on another sharing the cache."""
    parts = [platform.machine(), platform.processor()]
    try:
        with open("/proc/cpuinfo") as f:
            parts += sorted({line.strip() for line in f if line.startswith(("flags", "model name", "Features"))})
    except OSError:
        pass
    return "\n".join(parts).encode()


def _torch_uses_gnu_openmp() -> bool:
    if sys.platform != "linux" or "OpenMP" not in torch.__config__.parallel_info():
        return False
    try:
        with open("/proc/self/maps") as f:
            return any("libgomp" in line for line in f)
    except OSError:
        return False
