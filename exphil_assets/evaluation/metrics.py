"""Held-out metrics of a policy: accuracy per head, baselines, calibration, confusions.

Streaming: `HeldOutAccumulator.update` takes one batch of logits and labels and
keeps only counts (confusion matrices, calibration bins, press counts), so an
evaluation over millions of frames holds no logits. `result()` turns the counts
into `HeldOutMetrics`, a tree of dataclasses with `to_dict()`.

Definitions used throughout:
- accuracy: argmax prediction equals the label (top-k: label among the k largest logits);
- majority baseline: always predict the most frequent label *of the evaluated frames*;
  uniform baseline: guess uniformly at random (expected accuracy 1/K; 0.5 per button);
- lift over a baseline: `difference = accuracy - baseline`, `ratio = accuracy / baseline`;
- ECE (Guo et al. 2017): 15 equal-width confidence bins (lo, hi]; confidence is the
  largest softmax probability; ECE = sum_b n_b/N * |accuracy_b - mean confidence_b|;
- a button is predicted pressed where its logit > 0 (probability > 0.5).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from exphil_assets.features.constants import BUTTON_NAMES, STICK_BUCKETS
from exphil_assets.features.labels import decode_stick
from exphil_assets.nets.heads import CATEGORICAL_HEADS
from exphil_assets.training.loss import LossSums

ECE_BINS = 15
TOP_K = 3
TOP_CONFUSIONS = 10

# Label layout (ARCHITECTURE.md, "Features and labels"); the heads module is its source.
BUTTON_COLUMNS = slice(0, len(BUTTON_NAMES))
CATEGORICAL_COLUMNS: dict[str, int] = {name: col for name, col, _ in CATEGORICAL_HEADS}
HEAD_CLASSES: dict[str, int] = {name: classes for name, _, classes in CATEGORICAL_HEADS}
STICK_HEADS: tuple[str, ...] = ("main_x", "main_y", "c_x", "c_y")
# The two 2-D sticks drawn as heat maps: name -> (x head, y head).
STICKS: dict[str, tuple[str, str]] = {"main": ("main_x", "main_y"), "c": ("c_x", "c_y")}


@dataclass
class Lift:
    """How far an accuracy is above one baseline."""

    baseline_accuracy: float
    difference: float  # accuracy - baseline
    ratio: float | None  # accuracy / baseline (None where the baseline is 0: no frames)


@dataclass
class CalibrationBin:
    lower: float
    upper: float
    count: int
    mean_confidence: float
    accuracy: float


@dataclass
class StickConfusion:
    """A frequent mistake: the human pressed `true_bucket`, the model chose `predicted_bucket`."""

    true_bucket: int
    predicted_bucket: int
    true_value: float  # decoded stick coordinate in [-1, 1]
    predicted_value: float
    count: int
    share: float  # of all frames of this head


@dataclass
class CategoricalHeadMetrics:
    head: str
    classes: int
    frames: int
    accuracy: float
    top3_accuracy: float | None  # sticks only
    majority_class: int
    lift_over_majority: Lift
    lift_over_uniform: Lift
    ece: float
    calibration: list[CalibrationBin]
    label_distribution: list[float]  # human: share of frames per class
    predicted_distribution: list[float]  # model argmax: share of frames per class
    top_confusions: list[StickConfusion]


@dataclass
class ButtonMetrics:
    button: str
    accuracy: float
    predicted_press_rate: float
    actual_press_rate: float
    majority_baseline: float  # max(rate, 1 - rate)


@dataclass
class ButtonsMetrics:
    frames: int
    accuracy: float  # mean over the 8 buttons of the per-button accuracy
    exact_match_accuracy: float  # all 8 buttons right on the same frame
    lift_over_majority: Lift  # against the mean per-button majority baseline
    lift_over_uniform: Lift  # against 0.5
    per_button: list[ButtonMetrics]


@dataclass
class StickHeatmap:
    """Joint bucket counts [y][x] (17 x 17) of one stick: human labels vs model argmax."""

    stick: str
    human: list[list[int]]
    model: list[list[int]]


@dataclass
class HeldOutMetrics:
    frames: int
    loss: float | None  # training's loss (imitation_loss), mean per frame
    loss_by_head: dict[str, float]
    buttons: ButtonsMetrics
    heads: dict[str, CategoricalHeadMetrics]
    stick_heatmaps: dict[str, StickHeatmap]
    head_accuracies: dict[str, float] = field(default_factory=dict)  # flat view for tables

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _lift(accuracy: float, baseline: float) -> Lift:
    ratio = accuracy / baseline if baseline > 0 else None
    return Lift(baseline_accuracy=baseline, difference=accuracy - baseline, ratio=ratio)


def _flat(tensor: torch.Tensor, width: int) -> torch.Tensor:
    return tensor.detach().reshape(-1, width)


class _CategoricalCounts:
    """Counts of one categorical head, enough for every metric above."""

    def __init__(self, classes: int) -> None:
        self.classes = classes
        self.confusion = np.zeros((classes, classes), dtype=np.int64)  # [true, predicted]
        self.topk_correct = 0
        self.bin_count = np.zeros(ECE_BINS, dtype=np.int64)
        self.bin_confidence = np.zeros(ECE_BINS, dtype=np.float64)
        self.bin_correct = np.zeros(ECE_BINS, dtype=np.int64)

    def update(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        probs = torch.softmax(logits.float(), dim=-1)
        confidence, predicted = probs.max(dim=-1)
        k = min(TOP_K, self.classes)
        topk = logits.topk(k, dim=-1).indices
        self.topk_correct += int((topk == labels[:, None]).any(dim=-1).sum())
        pairs = (labels * self.classes + predicted).cpu().numpy()
        self.confusion += np.bincount(pairs, minlength=self.classes**2).reshape(self.classes, self.classes)
        # bin b holds confidences in (b/15, (b+1)/15]
        bins = (torch.ceil(confidence * ECE_BINS).long() - 1).clamp(0, ECE_BINS - 1).cpu().numpy()
        correct = (predicted == labels).cpu().numpy()
        self.bin_count += np.bincount(bins, minlength=ECE_BINS)
        self.bin_confidence += np.bincount(
            bins, weights=confidence.double().cpu().numpy(), minlength=ECE_BINS
        )
        self.bin_correct += np.bincount(bins, weights=correct.astype(np.float64), minlength=ECE_BINS).astype(
            np.int64
        )
        return predicted

    def result(self, head: str, top3: bool) -> CategoricalHeadMetrics:
        frames = int(self.confusion.sum())
        n = max(frames, 1)
        accuracy = float(np.trace(self.confusion)) / n
        label_counts = self.confusion.sum(axis=1)
        predicted_counts = self.confusion.sum(axis=0)
        majority_class = int(label_counts.argmax())
        calibration = []
        ece = 0.0
        for b in range(ECE_BINS):
            count = int(self.bin_count[b])
            mean_conf = float(self.bin_confidence[b] / count) if count else 0.0
            acc = float(self.bin_correct[b] / count) if count else 0.0
            ece += count / n * abs(acc - mean_conf)
            calibration.append(CalibrationBin(b / ECE_BINS, (b + 1) / ECE_BINS, count, mean_conf, acc))
        return CategoricalHeadMetrics(
            head=head,
            classes=self.classes,
            frames=frames,
            accuracy=accuracy,
            top3_accuracy=self.topk_correct / n if top3 else None,
            majority_class=majority_class,
            lift_over_majority=_lift(accuracy, float(label_counts[majority_class]) / n),
            lift_over_uniform=_lift(accuracy, 1.0 / self.classes),
            ece=ece,
            calibration=calibration,
            label_distribution=(label_counts / n).tolist(),
            predicted_distribution=(predicted_counts / n).tolist(),
            top_confusions=self._top_confusions(n) if head in STICK_HEADS else [],
        )

    def _top_confusions(self, n: int) -> list[StickConfusion]:
        off = self.confusion.copy()
        np.fill_diagonal(off, 0)
        order = np.argsort(off, axis=None, kind="stable")[::-1][:TOP_CONFUSIONS]
        out = []
        for flat in order:
            true, pred = divmod(int(flat), self.classes)
            count = int(off[true, pred])
            if count == 0:
                break
            out.append(
                StickConfusion(
                    true, pred, float(decode_stick(true)), float(decode_stick(pred)), count, count / n
                )
            )
        return out


class HeldOutAccumulator:
    """Streams batches of (logits, labels) and keeps counts only."""

    def __init__(self) -> None:
        self.heads = {head: _CategoricalCounts(k) for head, k in HEAD_CLASSES.items()}
        n_buttons = len(BUTTON_NAMES)
        self.button_frames = 0
        self.button_correct = np.zeros(n_buttons, dtype=np.int64)
        self.button_predicted = np.zeros(n_buttons, dtype=np.int64)
        self.button_actual = np.zeros(n_buttons, dtype=np.int64)
        self.button_exact = 0
        self.heatmaps = {
            stick: (
                np.zeros((STICK_BUCKETS, STICK_BUCKETS), dtype=np.int64),
                np.zeros((STICK_BUCKETS, STICK_BUCKETS), dtype=np.int64),
            )
            for stick in STICKS
        }
        self.loss_frames = 0
        self.loss_sum = 0.0
        self.loss_by_head_sum: dict[str, float] = {}

    def update(
        self, logits: dict[str, torch.Tensor], labels: torch.Tensor, mask: torch.Tensor | None = None
    ) -> None:
        """Add one batch: `logits` as the policy returns them, `labels` int64 [..., 13].

        `mask` (bool, labels' leading shape) keeps only the frames where it is True.
        """
        labels = _flat(labels, labels.shape[-1]).long()
        flat_logits = {name: _flat(t, t.shape[-1]) for name, t in logits.items()}
        if mask is not None:
            keep = mask.reshape(-1).bool()
            labels = labels[keep]
            flat_logits = {name: t[keep] for name, t in flat_logits.items()}
        if labels.shape[0] == 0:
            return
        predicted = {
            head: counts.update(flat_logits[head], labels[:, CATEGORICAL_COLUMNS[head]])
            for head, counts in self.heads.items()
        }
        pressed = flat_logits["buttons"] > 0
        actual = labels[:, BUTTON_COLUMNS].bool()
        right = pressed == actual
        self.button_frames += labels.shape[0]
        self.button_correct += right.sum(dim=0).cpu().numpy()
        self.button_predicted += pressed.sum(dim=0).cpu().numpy()
        self.button_actual += actual.sum(dim=0).cpu().numpy()
        self.button_exact += int(right.all(dim=-1).sum())
        k = STICK_BUCKETS
        for stick, (x_head, y_head) in STICKS.items():
            human, model = self.heatmaps[stick]
            hx, hy = labels[:, CATEGORICAL_COLUMNS[x_head]], labels[:, CATEGORICAL_COLUMNS[y_head]]
            human += np.bincount((hy * k + hx).cpu().numpy(), minlength=k * k).reshape(k, k)
            px, py = predicted[x_head], predicted[y_head]
            model += np.bincount((py * k + px).cpu().numpy(), minlength=k * k).reshape(k, k)

    def add_loss(self, sums: LossSums) -> None:
        """Add one batch's loss from training's `imitation_loss` (sums over its frames)."""
        self.loss_frames += sums.frames
        for head, value in sums.heads.items():
            value = float(value.detach())
            self.loss_sum += value
            self.loss_by_head_sum[head] = self.loss_by_head_sum.get(head, 0.0) + value

    def result(self) -> HeldOutMetrics:
        n = max(self.button_frames, 1)
        per_button = []
        for i, name in enumerate(BUTTON_NAMES):
            rate = float(self.button_actual[i]) / n
            per_button.append(
                ButtonMetrics(
                    button=name,
                    accuracy=float(self.button_correct[i]) / n,
                    predicted_press_rate=float(self.button_predicted[i]) / n,
                    actual_press_rate=rate,
                    majority_baseline=max(rate, 1.0 - rate),
                )
            )
        button_accuracy = float(np.mean([b.accuracy for b in per_button]))
        majority = float(np.mean([b.majority_baseline for b in per_button]))
        buttons = ButtonsMetrics(
            frames=self.button_frames,
            accuracy=button_accuracy,
            exact_match_accuracy=self.button_exact / n,
            lift_over_majority=_lift(button_accuracy, majority),
            lift_over_uniform=_lift(button_accuracy, 0.5),
            per_button=per_button,
        )
        heads = {head: counts.result(head, top3=head in STICK_HEADS) for head, counts in self.heads.items()}
        loss_n = self.loss_frames
        return HeldOutMetrics(
            frames=self.button_frames,
            loss=self.loss_sum / loss_n if loss_n else None,
            loss_by_head={h: v / loss_n for h, v in self.loss_by_head_sum.items()} if loss_n else {},
            buttons=buttons,
            heads=heads,
            stick_heatmaps={
                stick: StickHeatmap(stick, human.tolist(), model.tolist())
                for stick, (human, model) in self.heatmaps.items()
            },
            head_accuracies={"buttons": button_accuracy} | {h: m.accuracy for h, m in heads.items()},
        )
