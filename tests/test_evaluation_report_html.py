"""The HTML report: self-contained (no network references), every section present, JSON round trip."""

from __future__ import annotations

import base64
import json
import re
from html.parser import HTMLParser

import pytest
import torch

from exphil_assets.evaluation.closed_loop import ClosedLoopReport, MatchupResult
from exphil_assets.evaluation.latency import LatencyResult
from exphil_assets.evaluation.metrics import HeldOutAccumulator
from exphil_assets.evaluation.report import (
    ComparisonRow,
    DataSource,
    EvalReport,
    LossHistory,
    PolicyEvaluation,
    PolicySummary,
    SampleAction,
)
from exphil_assets.evaluation.report_html import policy_figures, render_report_html, write_report_html

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _metrics(seed: int):
    gen = torch.Generator().manual_seed(seed)
    logits = {
        "buttons": torch.randn(2, 40, 8, generator=gen) - 1,
        **{k: torch.randn(2, 40, 17, generator=gen) * 2 for k in ("main_x", "main_y", "c_x", "c_y")},
        "shoulder": torch.randn(2, 40, 5, generator=gen),
    }
    labels = torch.zeros(2, 40, 13, dtype=torch.long)
    labels[..., :8] = (torch.rand(2, 40, 8, generator=gen) < 0.2).long()
    labels[..., 8:12] = torch.randint(4, 13, (2, 40, 4), generator=gen)
    labels[..., 12] = torch.randint(0, 5, (2, 40), generator=gen)
    acc = HeldOutAccumulator()
    acc.update(logits, labels)
    return acc.result()


def synthetic_report() -> EvalReport:
    """Two policies with real metric objects (random predictions) and hand-made extras."""
    policies = []
    for i, backbone in enumerate(("mlp", "lstm")):
        name = f"{backbone}_test_2026"
        policies.append(
            PolicyEvaluation(
                summary=PolicySummary(
                    name=name,
                    path=f"/models/{name}_policy.safetensors",
                    backbone=backbone,
                    parameters=12345 + i,
                    policy_config={"backbone": backbone, "hidden": [64, 64]},
                    feature_spec={"float_dim": 80},
                    training={"preset": "quick", "epochs": 2},
                    architecture="Policy(\n  <script>alert(1)</script>\n)",
                ),
                metrics=_metrics(i),
                latency=LatencyResult(10, 2, 1, 0.5, 0.9, 0.6, 1.0, 16.67, True, "cpu", 2),
                history=LossHistory(epochs=[1, 2], train_loss=[3.0, 2.5], val_loss=[3.1, None]),
                samples=[
                    SampleAction(
                        frame=0,
                        human={"buttons": ["A"], "main": [0.0, 1.0], "c": [0.0, 0.0], "shoulder": 0.0},
                        model={"buttons": [], "main": [0.0, 0.875], "c": [0.0, 0.0], "shoulder": 0.25},
                        matches={"buttons": False, "main_x": True, "main_y": False},
                    )
                ],
                eval_seconds=1.0,
                frames_per_second=80.0,
            )
        )
    comparison = [
        ComparisonRow(
            rank=r,
            name=p.summary.name,
            backbone=p.summary.backbone,
            parameters=p.summary.parameters,
            val_loss=p.metrics.loss,
            button_accuracy=p.metrics.buttons.accuracy,
            head_accuracies=p.metrics.head_accuracies,
            stick_top3_mean=0.3,
            stick_ece_mean=0.1,
            latency_p99_ms=0.9,
            fps60_capable=True,
            win_rate=0.5,
        )
        for r, p in enumerate(policies, start=1)
    ]
    closed = ClosedLoopReport(
        env="mock",
        games_per_matchup=4,
        max_frames=600,
        scripted=[MatchupResult("mlp_test_2026", "random", 4, 2, 1, 1, 0.5, 0.75, 12.5, 600.0)],
        head_to_head=[MatchupResult("mlp_test_2026", "lstm_test_2026", 4, 1, 1, 2, 0.25, 0.0, -3.0, 600.0)],
    )
    return EvalReport(
        created_at="2026-01-01T00:00:00Z",
        data=DataSource("replays", "/replays", "abc", "val", 3, 80),
        policies=policies,
        comparison=comparison,
        closed_loop=closed,
    )


@pytest.fixture(scope="module")
def report() -> EvalReport:
    return synthetic_report()


@pytest.fixture(scope="module")
def page(report: EvalReport) -> str:
    """The page of the report after a JSON round trip: what a re-render from saved JSON shows."""
    return render_report_html(EvalReport.from_dict(json.loads(json.dumps(report.to_dict()))))


class _Refs(HTMLParser):
    """Collects every URL-bearing attribute and the ids of the page."""

    def __init__(self) -> None:
        super().__init__()
        self.refs: list[tuple[str, str, str]] = []
        self.ids: set[str] = set()
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for key, value in attrs:
            if key == "id":
                self.ids.add(value)
            if key in ("src", "href", "srcset", "action", "poster", "data"):
                self.refs.append((tag, key, value or ""))


def test_report_is_self_contained_with_embedded_png_images(page):
    parser = _Refs()
    parser.feed(page)

    imgs = [v for tag, key, v in parser.refs if tag == "img"]
    assert len(imgs) == 2 * 6  # per policy: loss, calibration, buttons, shoulder, two heat maps
    for src in imgs:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1]).startswith(PNG_MAGIC)
    # every other reference is an in-page anchor
    for tag, key, value in parser.refs:
        if tag != "img":
            assert value.startswith("#") and value[1:] in parser.ids, (tag, key, value)
    assert "script" not in parser.tags and "link" not in parser.tags
    assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", page.replace("data:image", ""), re.I)
    assert "@import" not in page and "url(" not in page


def test_report_has_every_dashboard_section_and_escapes_text(page):
    for heading in (
        "Backbone comparison",
        "Closed-loop games",
        "Head to head",
        "1. Policy: configuration and architecture",
        "Loss curves",
        "2. Test inference",
        "3. Compare to replays",
        "4. Visualise actions",
        "Inference latency",
        "Top stick confusions",
    ):
        assert heading in page, heading
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert page.count('id="policy-') == 2


def test_policy_figures_are_png_bytes(report):
    figs = policy_figures(report.policies[0])
    assert set(figs) == {
        "button_press_rates",
        "main_stick_heatmap",
        "c_stick_heatmap",
        "loss_curves",
        "calibration",
        "shoulder_distribution",
    }
    assert all(png.startswith(PNG_MAGIC) and len(png) > 1000 for png in figs.values())


def test_json_round_trip_keeps_every_field(report):
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert EvalReport.from_dict(data).to_dict() == report.to_dict()


def test_page_is_written_atomically(tmp_path, report, page, monkeypatch):
    from exphil_assets.evaluation import report_html

    monkeypatch.setattr(report_html, "render_report_html", lambda _: page)  # rendering is tested above
    out = write_report_html(report, tmp_path / "sub" / "report.html")
    assert out.read_text() == page
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["report.html"]
