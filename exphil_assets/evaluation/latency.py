"""Step-mode inference latency: one frame at a time at batch 1, as in live play.

Each timed step is a full `Policy.act` (encoder, one backbone step, the six
autoregressive heads), fed the held-out frames in order so recurrent state
evolves as it would in a game. A policy is 60-fps capable when its p99 step
time fits in one frame (1000 / 60 ms).

Steps run on ONE intra-op thread (restored afterwards): batch-1 tensors gain
nothing from more, and on a busy CPU extra threads cost milliseconds of
synchronisation per operator, which would measure the machine, not the model.
Python's garbage collector is paused while frames are timed, as in a play loop.
"""

from __future__ import annotations

import gc
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from exphil_assets.features.constants import LABEL_DIM
from exphil_assets.nets.policy import Policy
from exphil_assets.rl.rollout import torch_threads

FRAME_BUDGET_MS = 1000.0 / 60.0  # one Melee frame at 60 fps
DEFAULT_STEPS = 300
DEFAULT_WARMUP = 20
STEP_THREADS = 1  # intra-op threads for batch-1 stepping (see the module docstring)


@dataclass
class LatencyResult:
    steps: int
    warmup: int
    batch: int
    median_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float
    frame_budget_ms: float
    fps60_capable: bool  # p99 < frame budget
    device: str
    torch_threads: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def measure_step_latency(
    policy: Policy,
    floats: torch.Tensor,
    ids: torch.Tensor,
    steps: int = DEFAULT_STEPS,
    warmup: int = DEFAULT_WARMUP,
) -> LatencyResult:
    """Time `steps` calls of `policy.act` at batch 1 on frames `floats [N,F]`, `ids [N,K]` (cycled)."""
    if steps < 1:
        raise ValueError(f"measure_step_latency: steps must be >= 1, got {steps}")
    if floats.shape[0] == 0:
        raise ValueError("measure_step_latency: no frames to feed the policy")
    device = next(policy.parameters()).device
    floats = floats.to(device=device, dtype=torch.float32)
    ids = ids.to(device=device, dtype=torch.long)
    n = floats.shape[0]
    was_training = policy.training
    policy.eval()
    times = np.empty(steps, dtype=np.float64)
    # A real-time play loop pauses Python's cyclic GC between games' collections; a
    # collection inside a timed frame (up to a few ms) would be charged to the network.
    gc.collect()
    gc.disable()
    try:
        with torch.inference_mode(), torch_threads(STEP_THREADS):
            threads = torch.get_num_threads()
            state = policy.init_state(1, device)
            for i in range(warmup + steps):
                row = i % n
                start = time.perf_counter()
                state, action = policy.act(state, floats[row : row + 1], ids[row : row + 1])
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                else:
                    action.numpy()  # the action must exist before the clock stops
                elapsed = time.perf_counter() - start
                if i >= warmup:
                    times[i - warmup] = elapsed * 1000.0
    finally:
        gc.enable()
        policy.train(was_training)
    p99 = float(np.percentile(times, 99))
    return LatencyResult(
        steps=steps,
        warmup=warmup,
        batch=1,
        median_ms=float(np.median(times)),
        p99_ms=p99,
        mean_ms=float(times.mean()),
        max_ms=float(times.max()),
        frame_budget_ms=FRAME_BUDGET_MS,
        fps60_capable=p99 < FRAME_BUDGET_MS,
        device=str(device),
        torch_threads=threads,
    )


@torch.inference_mode()
def step_actions(policy: Policy, floats: torch.Tensor, ids: torch.Tensor) -> np.ndarray:
    """Deterministic actions [N, 13] of `policy.act` stepped through frames [N, ...] in order from a fresh state."""
    device = next(policy.parameters()).device
    was_training = policy.training
    policy.eval()
    out = np.empty((floats.shape[0], LABEL_DIM), dtype=np.int64)
    try:
        with torch_threads(STEP_THREADS):
            state = policy.init_state(1, device)
            for row in range(floats.shape[0]):
                state, action = policy.act(
                    state,
                    floats[row : row + 1].to(device=device, dtype=torch.float32),
                    ids[row : row + 1].to(device=device, dtype=torch.long),
                )
                out[row] = action[0].cpu().numpy()
    finally:
        policy.train(was_training)
    return out
