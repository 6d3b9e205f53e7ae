"""The evaluation report renders in a real browser: headless Chromium, no network, every image drawn.

Chromium is driven over the DevTools protocol on a pipe (tests/chromium_devtools.py). The report comes from the real
pipeline: a small policy evaluated on shared replays with `exphil eval`.

Run with `pytest -m browser`. Screenshots are kept under the test's tmp folder
(the path is printed) for a human to look at.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from chromium_devtools import CHROMIUM, DevToolsPipe, evaluate, open_page, screenshot

pytestmark = pytest.mark.browser

VIEWPORT_WIDTH = 1280
SMALL_REPLAYS = (
    "peppi__buttons_abxy.slp",
    "peppi__cstick_udlr.slp",
    "peppi__dash_back.slp",
    "peppi__shield_drop.slp",
)


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
        yield browser, open_page(browser, report_page.as_uri(), VIEWPORT_WIDTH)
    finally:
        browser.close()


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
    images = evaluate(
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
    text = evaluate(browser, session, "JSON.stringify(document.body.innerText)")
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
    path = tmp_path_factory.mktemp("screenshots") / "report.png"
    png = screenshot(browser, session, path, VIEWPORT_WIDTH)
    print(f"screenshot: {path}")
    assert png.startswith(b"\x89PNG") and len(png) > 50_000
    width = int.from_bytes(png[16:20], "big")
    assert width == VIEWPORT_WIDTH
