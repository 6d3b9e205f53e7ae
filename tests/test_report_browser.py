"""The evaluation report renders in a real browser: headless Chromium, no network, every image drawn.

Chromium is driven over the DevTools protocol on a pipe (`--remote-debugging-pipe`:
JSON messages separated by NUL bytes on file descriptors 3 and 4), so the test
needs no websocket client and no extra package. The report comes from the real
pipeline: a small policy evaluated on shared replays with `exphil eval`.

Run with `pytest -m browser`. Screenshots are kept under the test's tmp folder
(the path is printed) for a human to look at.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
)
VIEWPORT_WIDTH = 1280
SMALL_REPLAYS = (
    "peppi__buttons_abxy.slp",
    "peppi__cstick_udlr.slp",
    "peppi__dash_back.slp",
    "peppi__shield_drop.slp",
)


class DevToolsPipe:
    """A headless Chromium and its DevTools protocol over fds 3 (commands in) and 4 (replies out)."""

    def __init__(self, user_data_dir: Path) -> None:
        to_browser_r, to_browser_w = os.pipe()
        from_browser_r, from_browser_w = os.pipe()
        # Move our ends above fd 10 so the child's dup2 into 3 and 4 cannot clobber them.
        to_browser_r, to_browser_w, from_browser_r, from_browser_w = (
            self._above_10(fd) for fd in (to_browser_r, to_browser_w, from_browser_r, from_browser_w)
        )

        def child_fds() -> None:
            os.dup2(to_browser_r, 3)
            os.dup2(from_browser_w, 4)

        self.proc = subprocess.Popen(
            [
                CHROMIUM,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={user_data_dir}",
                "--remote-debugging-pipe",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(3, 4),
            preexec_fn=child_fds,
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self.write_fd, self.read_fd = to_browser_w, from_browser_r
        self.buffer = b""
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    @staticmethod
    def _above_10(fd: int) -> int:
        new = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(fd)
        return new

    def _read_message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("Chromium did not answer in time")
            ready, _, _ = select.select([self.read_fd], [], [], left)
            if ready:
                chunk = os.read(self.read_fd, 1 << 20)
                if not chunk:
                    raise RuntimeError("Chromium closed the DevTools pipe (did it crash?)")
                self.buffer += chunk
        raw, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(raw)

    def send(
        self, method: str, params: dict | None = None, session: str | None = None, timeout: float = 30
    ) -> dict:
        self.next_id += 1
        message: dict[str, Any] = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self.write_fd, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method} failed: {reply['error']}")
                return reply["result"]
            self.events.append(reply)

    def wait_for(self, method: str, timeout: float = 30) -> dict:
        for event in self.events:
            if event.get("method") == method:
                return event
        deadline = time.monotonic() + timeout
        while True:
            event = self._read_message(deadline)
            self.events.append(event)
            if event.get("method") == method:
                return event

    def close(self) -> None:
        try:
            self.send("Browser.close", timeout=5)
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self.write_fd)
        os.close(self.read_fd)


@pytest.fixture(scope="module")
def report_page(tmp_path_factory, shared_replays: Path) -> Path:
    """A report from the real `exphil eval` on two untrained policies (MLP and LSTM) and four replays."""
    from exphil_assets.cli.main import main
    from exphil_assets.features.constants import EMBEDDING_VERSION
    from exphil_assets.features.state import feature_spec
    from exphil_assets.nets.policy import Policy, PolicyConfig
    from exphil_assets.training.checkpoints import export_policy

    tmp = tmp_path_factory.mktemp("browser_report")
    replays = tmp / "replays"
    replays.mkdir()
    for name in SMALL_REPLAYS:
        (replays / name).symlink_to(shared_replays / name)
    spec = feature_spec()
    models = tmp / "models"
    policies = []
    for backbone in ("mlp", "lstm"):
        config = PolicyConfig(
            spec.float_dim, spec.id_vocab_sizes, backbone=backbone, hidden=(32, 32), window_size=30
        )
        stem = models / f"{backbone}_browser_20260101T000000"
        export_policy(
            Path(f"{stem}_policy.safetensors"), Path(f"{stem}_policy.json"), Policy(config).state_dict(),
            config, spec, EMBEDDING_VERSION, backbone, extra={"run": stem.name},
        )  # fmt: skip
        history = [{"epoch": e, "train": {"loss": 6.0 - e}, "val": {"loss": 6.2 - e}} for e in range(3)]
        Path(f"{stem}_config.json").write_text(
            json.dumps({"training": {"temporal": backbone != "mlp"}, "results": {"history": history}})
        )
        policies += ["--policy", str(stem)]
    out = tmp / "report.html"
    code = main(
        ["eval", *policies, "--data", str(tmp / "data"), "--replays", str(replays), "--out", str(out),
         "--latency-steps", "20", "--closed-loop-games", "1", "--closed-loop-frames", "30", "--no-progress"]
    )  # fmt: skip
    assert code == 0
    return out


@pytest.fixture(scope="module")
def loaded_page(report_page: Path, tmp_path_factory):
    """(DevToolsPipe, session id) with the report loaded; the browser is closed afterwards."""
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    browser = DevToolsPipe(tmp_path_factory.mktemp("chromium-profile"))
    try:
        target = browser.send("Target.createTarget", {"url": "about:blank"})
        session = browser.send("Target.attachToTarget", {"targetId": target["targetId"], "flatten": True})[
            "sessionId"
        ]
        browser.send("Network.enable", session=session)
        browser.send("Page.enable", session=session)
        browser.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": VIEWPORT_WIDTH, "height": 1000, "deviceScaleFactor": 1, "mobile": False},
            session=session,
        )
        browser.send("Page.navigate", {"url": report_page.as_uri()}, session=session)
        browser.wait_for("Page.loadEventFired", timeout=60)
        yield browser, session
    finally:
        browser.close()


def _evaluate(browser: DevToolsPipe, session: str, expression: str) -> Any:
    result = browser.send(
        "Runtime.evaluate", {"expression": expression, "returnByValue": True}, session=session
    )
    return json.loads(result["result"]["value"])


def test_report_loads_with_no_failed_or_external_requests(loaded_page, report_page):
    browser, _ = loaded_page
    requests = [
        e["params"]["request"]["url"]
        for e in browser.events
        if e.get("method") == "Network.requestWillBeSent"
    ]
    failed = [e["params"] for e in browser.events if e.get("method") == "Network.loadingFailed"]
    assert requests[0] == report_page.as_uri()
    assert not failed, failed
    external = [url for url in requests if not url.startswith(("file:", "data:"))]
    assert not external, external
    assert all(url.startswith("data:image/png") for url in requests[1:])


def test_every_image_is_an_embedded_png_with_a_non_zero_size(loaded_page):
    browser, session = loaded_page
    images = _evaluate(
        browser,
        session,
        "JSON.stringify([...document.images].map(i => ({src: i.src.slice(0, 22), w: i.naturalWidth,"
        " h: i.naturalHeight, shown: i.getBoundingClientRect().width, done: i.complete})))",
    )
    assert len(images) == 2 * 6
    for image in images:
        assert image["src"] == "data:image/png;base64,"
        assert image["done"] and image["w"] > 100 and image["h"] > 100 and image["shown"] > 100, image


def test_page_has_the_sections_and_a_full_page_screenshot(loaded_page, tmp_path_factory):
    browser, session = loaded_page
    text = _evaluate(browser, session, "JSON.stringify(document.body.innerText)")
    for heading in (
        "Backbone comparison",
        "Against scripted opponents",
        "Head to head",
        "Test inference",
        "Compare to replays",
        "Visualise actions",
    ):
        assert heading in text
    assert "mlp_browser_20260101T000000" in text and "lstm_browser_20260101T000000" in text
    height = browser.send("Page.getLayoutMetrics", session=session)["cssContentSize"]["height"]
    shot = browser.send(
        "Page.captureScreenshot",
        {
            "format": "png",
            "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": VIEWPORT_WIDTH, "height": height, "scale": 1},
        },
        session=session,
        timeout=60,
    )
    png = base64.b64decode(shot["data"])
    path = tmp_path_factory.mktemp("screenshots") / "report.png"
    path.write_bytes(png)
    print(f"screenshot: {path}")
    assert png.startswith(b"\x89PNG") and len(png) > 50_000
    width = int.from_bytes(png[16:20], "big")
    assert width == VIEWPORT_WIDTH
