"""The Dagster UI in a real browser: the asset graph and an imitation_policy materialization.

A small chain (ingest, dataset, imitation_policy[mlp]) is materialized into a fresh
DAGSTER_HOME; `dagster dev` is started on 127.0.0.1 in its own process group (it
ignores SIGTERM from a script otherwise), headless Chromium loads two pages, and the
server is stopped by its process group id. Run with `pytest -m browser`.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from chromium_devtools import CHROMIUM, DevToolsPipe, evaluate, open_page, screenshot
from dagster import AssetKey, AssetSelection, DagsterInstance, materialize

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[1]
REPLAYS = ("peppi__v3.18.slp", "peppi__shield_drop.slp", "exphil__fox_ms_float.slp")
WIDTH = 1400


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def dagster_home(tmp_path_factory, shared_replays: Path) -> tuple[Path, dict[str, str], str]:
    """A Dagster instance holding real materializations; returns (home, env, a metadata value)."""
    from exphil_assets.definitions import defs
    from exphil_assets.defs.resources import ExphilStorage
    from exphil_assets.replays.batches import register_batch
    from exphil_assets.training.presets import preset_run_config

    root = tmp_path_factory.mktemp("ui")
    home = root / "dagster_home"
    home.mkdir()
    shutil.copyfile(REPO / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    env = {
        "DAGSTER_HOME": str(home),
        "EXPHIL_DATA": str(root / "data"),
        "EXPHIL_MODELS": str(root / "models"),
        "EXPHIL_REPORTS": str(root / "reports"),
    }
    storage = ExphilStorage(data_root=env["EXPHIL_DATA"], models_dir=env["EXPHIL_MODELS"])
    instance = DagsterInstance.from_config(str(home))
    batch = register_batch(root / "data", [shared_replays / f for f in REPLAYS])
    instance.add_dynamic_partitions("replay_batches", [batch])
    everything = [*defs.assets, *defs.asset_checks]
    train = preset_run_config("quick")
    train["ops"]["imitation_policy"]["config"].update({"hidden": [16], "precision": "f32"})
    for selection, partition, config in (
        ("replay_frames", batch, {}),
        ("embedded_dataset", None, {}),
        ("imitation_policy", "mlp", train),
    ):
        materialize(
            everything,
            selection=AssetSelection.assets(selection),
            partition_key=partition,
            instance=instance,
            resources={"storage": storage},
            run_config=config,
        )
    event = instance.get_latest_materialization_event(AssetKey("imitation_policy"))
    config_hash = str(event.asset_materialization.metadata["config_hash"].value)
    instance.dispose()
    return home, env, config_hash


@pytest.fixture(scope="module")
def dagster_ui(dagster_home, tmp_path_factory):
    """`dagster dev` on a free loopback port; yields its base URL and stops it by process group."""
    home, env, _ = dagster_home
    port = _free_port()
    log = (tmp_path_factory.mktemp("dagster-dev") / "dagster-dev.log").open("w")
    dagster = Path(sys.executable).with_name("dagster")
    server = subprocess.Popen(
        [str(dagster), "dev", "-m", "exphil_assets.definitions", "-h", "127.0.0.1", "-p", str(port)],
        cwd=REPO,
        env={**os.environ, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: a signal to the group reaches every child
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"{base}/server_info", timeout=5) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"dagster dev did not come up; see {log.name}")
            time.sleep(1)
        yield base
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    pipe = DevToolsPipe(tmp_path_factory.mktemp("chromium-profile"))
    yield pipe
    pipe.close()


def _dismiss_welcome(browser: DevToolsPipe, session: str) -> None:
    """Close the first-visit 'Join the Dagster community' dialog if it is open."""
    evaluate(
        browser,
        session,
        "JSON.stringify([...document.querySelectorAll('button')]"
        ".filter(b => b.innerText.trim() === 'Skip').map(b => (b.click(), 1)))",
    )


def _wait_for_text(browser: DevToolsPipe, session: str, needles: list[str], timeout: float = 90) -> str:
    """The page's text once every needle shows (the UI renders after its GraphQL calls return)."""
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = evaluate(browser, session, "JSON.stringify(document.body ? document.body.innerText : \"\")")
        if all(n in text for n in needles):
            _dismiss_welcome(browser, session)
            return text
        time.sleep(1)
    missing = [n for n in needles if n not in text]
    raise AssertionError(f"page never showed {missing}; it showed: {text[:2000]}")


def test_asset_graph_shows_every_asset(dagster_ui, browser, tmp_path_factory):
    session = open_page(browser, f"{dagster_ui}/asset-groups", WIDTH, 1000)
    names = ["replay_frames", "embedded_dataset", "imitation_policy", "ppo_policy", "evaluation_report"]
    _wait_for_text(browser, session, names)
    path = tmp_path_factory.mktemp("screenshots") / "asset_graph.png"
    png = screenshot(browser, session, path, WIDTH, full_page=False)
    print(f"screenshot: {path}")
    assert png.startswith(b"\x89PNG") and len(png) > 20_000


def test_materialization_page_shows_metadata(dagster_ui, dagster_home, browser, tmp_path_factory):
    _, _, config_hash = dagster_home
    session = open_page(browser, f"{dagster_ui}/assets/imitation_policy?partition=mlp", WIDTH, 1400)
    text = _wait_for_text(browser, session, ["imitation_policy", "config_hash", config_hash])
    assert "mlp" in text
    path = tmp_path_factory.mktemp("screenshots") / "imitation_policy.png"
    screenshot(browser, session, path, WIDTH, full_page=False)
    print(f"screenshot: {path}")
