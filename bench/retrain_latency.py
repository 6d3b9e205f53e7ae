"""Time from new replays landing to an updated policy, with the sensors and the daemon running.

Starts `dagster dev` (webserver + daemon) on a fresh instance in its own process
group, turns on `new_replays_sensor`, `retrain_after_ingest` and
`retrain_after_dataset`, copies N shared replays into the watched folder, and waits
for a new `imitation_policy[mlp]` materialization. Prints ONE JSON line with the
seconds to each step. The daemon evaluates each sensor about every 30 s, so most of
the latency is sensor ticks, not work.

    python bench/retrain_latency.py [--replays ../shared/replays] [--files 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FILES = ("peppi__v3.18.slp", "exphil__fox_ms_float.slp", "exphil__fox_ms_frame1.slp", "peppi__game.slp")
SENSORS = ("new_replays_sensor", "retrain_after_ingest", "retrain_after_dataset")
ASSETS = ("replay_frames", "embedded_dataset", "imitation_policy")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replays", default=str(REPO.parent / "shared" / "replays"))
    parser.add_argument("--files", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=900)
    args = parser.parse_args()
    bin_dir = Path(sys.executable).parent
    with tempfile.TemporaryDirectory(prefix="exphil-retrain-") as tmp:
        work = Path(tmp)
        home, watched = work / "dagster_home", work / "replays"
        home.mkdir()
        watched.mkdir()
        shutil.copyfile(REPO / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
        env = {**os.environ, "DAGSTER_HOME": str(home), "EXPHIL_REPLAYS": str(watched),
               "EXPHIL_DATA": str(work / "data"), "EXPHIL_MODELS": str(work / "models"),
               "EXPHIL_REPLAY_MIN_AGE_S": "1", "EXPHIL_RETRAIN_BACKBONES": "mlp"}  # fmt: skip
        # Sensors are turned on in the instance first; the daemon picks them up when it starts.
        for sensor in SENSORS:
            subprocess.run(
                [str(bin_dir / "dagster"), "sensor", "start", "-m", "exphil_assets.definitions", sensor],
                cwd=REPO, env=env, check=True, capture_output=True,
            )  # fmt: skip
        log = (work / "dagster-dev.log").open("w")
        server = subprocess.Popen(
            [str(bin_dir / "dagster"), "dev", "-m", "exphil_assets.definitions", "-h", "127.0.0.1", "-p", "3987"],
            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        try:
            time.sleep(5)
            landed = time.time()
            for name in FILES[: args.files]:
                shutil.copyfile(Path(args.replays) / name, watched / name)
            seen = wait_for_assets(home, landed, args.timeout)
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
            log.close()
        print(json.dumps({"bench": "retrain_latency", "files": args.files,
                          **{f"{k}_s": round(v - landed, 1) for k, v in seen.items()},
                          "replay_to_policy_s": round(seen["imitation_policy"] - landed, 1)}))  # fmt: skip
    return 0


def wait_for_assets(home: Path, since: float, timeout: float) -> dict[str, float]:
    """Poll the instance until each asset has a materialization after `since`; their timestamps."""
    from dagster import AssetKey, DagsterInstance

    seen: dict[str, float] = {}
    deadline = time.time() + timeout
    with DagsterInstance.from_config(str(home)) as instance:
        while len(seen) < len(ASSETS):
            if time.time() > deadline:
                raise TimeoutError(f"only {sorted(seen)} materialized within {timeout:.0f}s")
            for key in ASSETS:
                event = instance.get_latest_materialization_event(AssetKey(key))
                if key not in seen and event is not None and event.timestamp > since:
                    seen[key] = event.timestamp
            time.sleep(2)
    return seen


if __name__ == "__main__":
    sys.exit(main())
