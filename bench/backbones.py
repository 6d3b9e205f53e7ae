"""Benchmark every backbone: training frames/s and per-frame step latency. One JSON line per measurement.

Training: the guide's sizes (hidden 256, 2 layers, window 60, batch 64, f32),
forward + teacher-forced loss + backward + AdamW on random inputs with 80 floats
and 6 id columns; frames/s counts every frame of every window (the MLP gets the
same 64 x 60 frames, one at a time). Step: batch 1 under inference_mode,
median and p99 over --steps frames, for the backbone step alone and for the
full Policy.act (encoder, backbone, autoregressive sampling), on one thread
(--step-threads): at batch 1 a second thread only adds synchronisation, and on
a busy machine it multiplies the latency. Python's garbage collector is paused
while frames are timed, as a real-time play loop would do (`gc.disable()`, then
`gc.collect()` between games).

Besides wall-clock frames/s, each training line reports cpu_s_per_step (process
CPU time, all threads): on a shared machine wall time includes waiting for the
CPU, and frames_per_cpu_s = frames / cpu_s_per_step is the figure that noise
does not inflate. On a busy machine run it with OMP_WAIT_POLICY=PASSIVE (or
--threads 1): with OpenMP's default spin-waiting, two threads sharing a
contended core made the Mamba scan up to 10x slower in wall time.

    python bench/backbones.py [--backbones mamba,lstm] [--iters 5] [--steps 1000] [--threads 2]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import time

import torch

from exphil_assets.nets.heads import action_log_prob
from exphil_assets.nets.policy import Policy, PolicyConfig
from exphil_assets.nets.registry import BACKBONES

FLOAT_DIM = 80
ID_VOCABS = (400, 400, 33, 33, 33, 8)  # action states x2, characters x2, stage, a small categorical
BATCH, WINDOW, HIDDEN, LAYERS = 64, 60, 256, 2


def _config(backbone: str, truncate_bptt: int | None = None) -> PolicyConfig:
    return PolicyConfig(
        float_dim=FLOAT_DIM, id_vocab_sizes=ID_VOCABS, backbone=backbone, hidden=(HIDDEN, HIDDEN),
        num_layers=LAYERS, window_size=WINDOW, dropout=0.0, truncate_bptt=truncate_bptt,
    )


def _batch(batch: int, T: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    floats = torch.randn(batch, T, FLOAT_DIM, generator=g)
    ids = torch.stack([torch.randint(0, v, (batch, T), generator=g) for v in ID_VOCABS], -1)
    labels = torch.cat(
        [torch.randint(0, 2, (batch, T, 8), generator=g), torch.randint(0, 17, (batch, T, 4), generator=g),
         torch.randint(0, 5, (batch, T, 1), generator=g)], -1,
    )
    return floats, ids, labels


def train_speed(cfg: PolicyConfig, iters: int) -> dict[str, float]:
    torch.manual_seed(0)
    policy = Policy(cfg).train()
    opt = torch.optim.AdamW(policy.parameters(), lr=1e-4)
    floats, ids, labels = _batch(BATCH, WINDOW, torch.Generator().manual_seed(0))

    def one_step() -> None:
        logits, _ = policy(floats, ids, labels)
        loss = -action_log_prob(logits, labels).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    one_step()  # warm-up: allocations, AdamW state
    wall, cpu = [], []
    for _ in range(iters):
        start, start_cpu = time.perf_counter(), time.process_time()
        one_step()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    frames = BATCH * WINDOW
    return {
        "train_frames_per_s": round(frames / statistics.median(wall), 1),
        "cpu_s_per_step": round(statistics.median(cpu), 3),
        "frames_per_cpu_s": round(frames / statistics.median(cpu), 1),
    }


def step_latency_ms(cfg: PolicyConfig, steps: int, threads: int) -> dict[str, float]:
    train_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    policy = Policy(cfg).eval()
    floats, ids, _ = _batch(1, steps, torch.Generator().manual_seed(1))
    out = {}
    with torch.inference_mode():
        for label, fn in (("step", lambda s, t: policy.step(s, floats[:, t], ids[:, t])),
                          ("act", lambda s, t: policy.act(s, floats[:, t], ids[:, t]))):
            state = policy.init_state(1)
            for t in range(20):  # warm-up
                state, _ = fn(state, t)
            state = policy.init_state(1)
            times = []
            # As in a 60 fps play loop: Python's cyclic GC is paused while frames are timed
            # (a collection costs up to a few ms and has nothing to do with the network).
            gc.collect()
            gc.disable()
            try:
                for t in range(steps):
                    start = time.perf_counter()
                    state, _ = fn(state, t)
                    times.append(time.perf_counter() - start)
            finally:
                gc.enable()
            times.sort()
            out[f"{label}_ms_median"] = round(1e3 * statistics.median(times), 4)
            out[f"{label}_ms_p99"] = round(1e3 * times[int(0.99 * (len(times) - 1))], 4)
    torch.set_num_threads(train_threads)
    return out | {"step_threads": threads}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbones", default=",".join(BACKBONES))
    parser.add_argument("--iters", type=int, default=5, help="timed training steps per backbone (median)")
    parser.add_argument("--steps", type=int, default=1000, help="timed batch-1 step frames")
    parser.add_argument("--threads", type=int, default=0, help="torch threads for training (0: torch's default)")
    parser.add_argument("--step-threads", type=int, default=1, help="torch threads for the batch-1 step timing")
    parser.add_argument("--no-truncate", action="store_true", help="skip the LSTM truncate_bptt comparison")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    common = {"hidden": HIDDEN, "num_layers": LAYERS, "window": WINDOW, "batch": BATCH, "precision": "f32",
              "threads": torch.get_num_threads(), "torch": torch.__version__,
              "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "default")}
    for name in args.backbones.split(","):
        cfg = _config(name)
        line = {"bench": "backbone", "backbone": name} | train_speed(cfg, args.iters)
        line |= step_latency_ms(cfg, args.steps, args.step_threads) | common
        print(json.dumps(line), flush=True)
    if not args.no_truncate:
        for n in (None, 30, 20, 10):
            speed = train_speed(_config("lstm", truncate_bptt=n), args.iters)
            print(json.dumps({"bench": "lstm_truncate_bptt", "truncate_bptt": n} | speed | common), flush=True)


if __name__ == "__main__":
    main()
