"""Benchmark replay ingestion against bare peppi parsing. Prints ONE JSON line.

    python bench/ingest.py --replays ../shared/replays [--repeats 3]

Each measurement runs in a fresh child process (imports excluded from the timing;
the ingest's worker-pool start, hashing, Parquet writes, catalog and DuckDB views
included), into a fresh temporary data folder, `--repeats` times; the best time
counts, since other work on a shared machine only ever slows a run down. The
four kinds of run are interleaved, so they sample the same machine load.

- `ingest_frames_per_s[_w2]`: unique frames ingested / ingest wall time, 1 [2] workers;
- `raw_parse_frames_per_s[_w2]`: the same frames / time of `peppi_py.read_slippi` over
  the same files in 1 [2] processes, doing nothing else;
- `ratio[_w2]` = ingest rate / raw rate; `speedup_w2` = w2 ingest rate / w1 ingest rate;
  `raw_speedup_w2`, the same for bare peppi, shows whether a second core was free at all;
- `peak_rss_mb`: peak RSS of the 1-worker ingest, main process + worker (ru_maxrss
  of the child and of its own children, summed since both are alive together).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _cpu_seconds() -> float:
    """CPU time of this process and its reaped children: a load-independent check on wall times."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _replay_files(folder: str) -> list[str]:
    return sorted(str(p) for p in Path(folder).rglob("*.slp"))


def _warm_page_cache(files: list[str]) -> None:
    for path in files:
        with open(path, "rb") as fh:
            while fh.read(1 << 20):
                pass


def _parse_all(files: list[str]) -> int:
    import peppi_py

    rows = 0
    for path in files:
        try:
            rows += len(peppi_py.read_slippi(path).frames.id)
        except BaseException:  # noqa: BLE001 - peppi panics are BaseExceptions; the bench counts only good files
            pass
    return rows


def child_raw(replays: str, workers: int) -> dict:
    """Bare peppi parsing of every file, in `workers` pre-started processes."""
    import multiprocessing

    import peppi_py  # noqa: F401 - imported before timing, like the ingest child

    files = _replay_files(replays)
    if workers == 1:
        cpu, start = _cpu_seconds(), time.perf_counter()
        _parse_all(files)
        return {"seconds": time.perf_counter() - start, "cpu_s": _cpu_seconds() - cpu}
    chunks = [files[i::workers] for i in range(workers)]
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        pool.map(abs, range(workers))  # start the processes before timing
        start = time.perf_counter()
        pool.map(_parse_all, chunks)
        seconds = time.perf_counter() - start
    return {"seconds": seconds}


def child_ingest(replays: str, workers: int) -> dict:
    from exphil_assets.replays.ingest import ingest_replays

    with tempfile.TemporaryDirectory(prefix="exphil-bench-") as data:
        cpu, start = _cpu_seconds(), time.perf_counter()
        summary = ingest_replays(replays, Path(data), workers=workers, progress=False)
        seconds = time.perf_counter() - start
        cpu = _cpu_seconds() - cpu
        frames_bytes = sum(p.stat().st_size for p in (Path(data) / "frames").glob("*.parquet"))
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    workers_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {
        "seconds": seconds,
        "cpu_s": cpu,
        "frames": summary.frames,
        "ok": summary.ok,
        "quarantined": summary.quarantined,
        "main_rss_mb": own,
        "worker_rss_mb": workers_rss,
        "frame_tables_mb": frames_bytes / 1e6,
    }


def _run_child(kind: str, replays: str, workers: int) -> dict:
    cmd = [sys.executable, __file__, "--child", kind, "--replays", replays, "--workers", str(workers)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _best_of(runs: list[dict]) -> dict:
    best = dict(min(runs, key=lambda r: r["seconds"]))
    best["all_seconds"] = [round(r["seconds"], 3) for r in runs]
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replays", required=True, metavar="DIR")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--workers", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--child", choices=("raw", "ingest"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    replays = str(Path(args.replays).resolve())

    if args.child == "raw":
        print(json.dumps(child_raw(replays, args.workers)))
        return
    if args.child == "ingest":
        print(json.dumps(child_ingest(replays, args.workers)))
        return

    files = _replay_files(replays)
    if not files:
        sys.exit(f"bench/ingest.py: no .slp files under {replays}")
    _warm_page_cache(files)
    # Interleaved, so that each kind of run sees the same mix of other work on the machine.
    plan = [("ingest", 1), ("raw", 1), ("ingest", 2), ("raw", 2)]
    runs: dict[tuple[str, int], list[dict]] = {key: [] for key in plan}
    for _ in range(args.repeats):
        for kind, workers in plan:
            runs[(kind, workers)].append(_run_child(kind, replays, workers))
    ingest_w1, raw_w1, ingest_w2, raw_w2 = (_best_of(runs[key]) for key in plan)
    frames = ingest_w1["frames"]

    def rate(run: dict) -> float:
        return frames / run["seconds"]

    result = {
        "bench": "ingest",
        "files": len(files),
        "ok": ingest_w1["ok"],
        "quarantined": ingest_w1["quarantined"],
        "frames": frames,
        "ingest_frames_per_s": round(rate(ingest_w1)),
        "raw_parse_frames_per_s": round(rate(raw_w1)),
        "ratio": round(rate(ingest_w1) / rate(raw_w1), 3),
        "ingest_frames_per_s_w2": round(rate(ingest_w2)),
        "raw_parse_frames_per_s_w2": round(rate(raw_w2)),
        "ratio_w2": round(rate(ingest_w2) / rate(raw_w2), 3),
        "speedup_w2": round(rate(ingest_w2) / rate(ingest_w1), 3),
        # The same for bare peppi: well under 2 means other work held the second core.
        "raw_speedup_w2": round(rate(raw_w2) / rate(raw_w1), 3),
        # CPU seconds (main + workers) of the fastest runs: under load, wall times mislead.
        "ingest_cpu_s": round(ingest_w1["cpu_s"], 3),
        "ingest_cpu_s_w2": round(ingest_w2["cpu_s"], 3),
        "raw_parse_cpu_s": round(raw_w1["cpu_s"], 3),
        "ratio_cpu": round(raw_w1["cpu_s"] / ingest_w1["cpu_s"], 3),
        "peak_rss_mb": round(ingest_w1["main_rss_mb"] + ingest_w1["worker_rss_mb"], 1),
        "main_rss_mb": round(ingest_w1["main_rss_mb"], 1),
        "worker_rss_mb": round(ingest_w1["worker_rss_mb"], 1),
        "frame_tables_mb": round(ingest_w1["frame_tables_mb"], 2),
        "seconds": {
            "ingest_w1": ingest_w1["all_seconds"],
            "raw_w1": raw_w1["all_seconds"],
            "ingest_w2": ingest_w2["all_seconds"],
            "raw_w2": raw_w2["all_seconds"],
        },
        "repeats": args.repeats,
        "cpus": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
