"""The evaluation report as data: what `exphil eval --json` writes and the HTML page draws.

`EvalReport.to_dict()` is the JSON form; `EvalReport.from_dict` reads it back, so
a report can be re-rendered later without the policies or the data.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from exphil_assets.evaluation.closed_loop import ClosedLoopReport, MatchupResult
from exphil_assets.evaluation.latency import LatencyResult
from exphil_assets.evaluation.metrics import (
    ButtonMetrics,
    ButtonsMetrics,
    CalibrationBin,
    CategoricalHeadMetrics,
    HeldOutMetrics,
    Lift,
    StickConfusion,
    StickHeatmap,
)

REPORT_VERSION = 1


@dataclass
class PolicySummary:
    """What the policy is: the dashboard's "load policy" section."""

    name: str  # file stem, e.g. mlp_quick_20260101T120000
    path: str
    backbone: str
    parameters: int
    policy_config: dict[str, Any]  # PolicyConfig.to_dict()
    feature_spec: dict[str, Any]  # float_dim, id vocab sizes, embedding version
    training: dict[str, Any]  # selected settings and results from ..._config.json
    architecture: str  # repr of the torch module, for the curious


@dataclass
class LossHistory:
    """Per-epoch losses of training, from the policy's ..._config.json (empty if absent)."""

    epochs: list[int] = field(default_factory=list)
    train_loss: list[float | None] = field(default_factory=list)
    val_loss: list[float | None] = field(default_factory=list)


@dataclass
class SampleAction:
    """One held-out frame: what the human pressed and what the policy chose (step mode)."""

    frame: int  # index in the evaluated sequence
    human: dict[str, Any]  # buttons (names pressed), main (x, y), c (x, y), shoulder
    model: dict[str, Any]
    matches: dict[str, bool]  # per head: model == human
    state: dict[str, float] = field(default_factory=dict)  # a few state features in game units


@dataclass
class PolicyEvaluation:
    summary: PolicySummary
    metrics: HeldOutMetrics
    latency: LatencyResult | None
    history: LossHistory
    samples: list[SampleAction]
    eval_seconds: float
    frames_per_second: float


@dataclass
class ComparisonRow:
    """One line of the backbone comparison table (ranked by held-out loss, best first)."""

    rank: int
    name: str
    backbone: str
    parameters: int
    val_loss: float | None
    button_accuracy: float
    head_accuracies: dict[str, float]
    stick_top3_mean: float
    stick_ece_mean: float
    latency_p99_ms: float | None
    fps60_capable: bool | None
    win_rate: float | None


@dataclass
class DataSource:
    """Where the held-out frames came from."""

    kind: str  # "dataset" (a policy's own validation split) or "replays" (a folder, all held out)
    path: str
    dataset_id: str
    split: str
    files: int
    frames: int


@dataclass
class EvalReport:
    created_at: str
    data: DataSource
    policies: list[PolicyEvaluation]  # ranked, best first
    comparison: list[ComparisonRow]
    closed_loop: ClosedLoopReport | None = None
    version: int = REPORT_VERSION
    device: str = "cpu"  # the torch device the policies ran on (reports before --device: the CPU)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EvalReport:
        return EvalReport(
            created_at=d["created_at"],
            data=DataSource(**d["data"]),
            policies=[_policy_from_dict(p) for p in d["policies"]],
            comparison=[ComparisonRow(**row) for row in d["comparison"]],
            closed_loop=_closed_loop_from_dict(d.get("closed_loop")),
            version=d.get("version", REPORT_VERSION),
            device=d.get("device", "cpu"),
        )


def _lift(d: dict) -> Lift:
    return Lift(**d)


def _head_from_dict(d: dict) -> CategoricalHeadMetrics:
    return CategoricalHeadMetrics(
        **{
            **d,
            "lift_over_majority": _lift(d["lift_over_majority"]),
            "lift_over_uniform": _lift(d["lift_over_uniform"]),
            "calibration": [CalibrationBin(**b) for b in d["calibration"]],
            "top_confusions": [StickConfusion(**c) for c in d["top_confusions"]],
        }
    )


def _metrics_from_dict(d: dict) -> HeldOutMetrics:
    b = d["buttons"]
    buttons = ButtonsMetrics(
        **{
            **b,
            "lift_over_majority": _lift(b["lift_over_majority"]),
            "lift_over_uniform": _lift(b["lift_over_uniform"]),
            "per_button": [ButtonMetrics(**x) for x in b["per_button"]],
        }
    )
    return HeldOutMetrics(
        **{
            **d,
            "buttons": buttons,
            "heads": {k: _head_from_dict(v) for k, v in d["heads"].items()},
            "stick_heatmaps": {k: StickHeatmap(**v) for k, v in d["stick_heatmaps"].items()},
        }
    )


def _policy_from_dict(d: dict) -> PolicyEvaluation:
    return PolicyEvaluation(
        summary=PolicySummary(**d["summary"]),
        metrics=_metrics_from_dict(d["metrics"]),
        latency=LatencyResult(**d["latency"]) if d.get("latency") else None,
        history=LossHistory(**d["history"]),
        samples=[SampleAction(**s) for s in d["samples"]],
        eval_seconds=d["eval_seconds"],
        frames_per_second=d["frames_per_second"],
    )


def _closed_loop_from_dict(d: dict | None) -> ClosedLoopReport | None:
    if not d:
        return None
    return ClosedLoopReport(
        env=d["env"],
        games_per_matchup=d["games_per_matchup"],
        max_frames=d["max_frames"],
        scripted=[MatchupResult(**m) for m in d["scripted"]],
        head_to_head=[MatchupResult(**m) for m in d["head_to_head"]],
    )
