"""The report's figures, as PNG bytes (matplotlib, Agg backend: no display needed).

Every function takes plain numbers (lists, arrays) so it can be drawn from a
saved JSON report as well as from a live evaluation, and returns PNG bytes that
`png_data_uri` embeds in the HTML page or Dagster markdown.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # before pyplot: never try to open a window

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import LogNorm  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

MODEL_COLOR = "#2563eb"
HUMAN_COLOR = "#f59e0b"
VAL_COLOR = "#dc2626"
NEVER_COLOR = "#e5e7eb"  # heat-map cells no frame fell in
DPI = 100

_STYLE = {
    "font.family": "DejaVu Sans",  # bundled with matplotlib: no system font lookup
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.25,
    "axes.titleweight": "bold",
}


def png_data_uri(png: bytes) -> str:
    """`data:image/png;base64,...` for an <img src> or a markdown image."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _to_png(fig: plt.Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def button_press_rates(
    buttons: Sequence[str], model_rates: Sequence[float], human_rates: Sequence[float], title: str = ""
) -> bytes:
    """Grouped bars: how often each button is pressed, model vs human."""
    return _human_vs_model_bars(
        buttons, human_rates, model_rates, "frames pressed (%)", title or "Button press rates", (6.4, 2.8)
    )


def stick_heatmaps(
    human: Sequence[Sequence[int]], model: Sequence[Sequence[int]], stick_values: Sequence[float], title: str
) -> bytes:
    """Two 17x17 heat maps [y][x] of stick positions (share of frames, log scale): human | model."""
    human_arr = np.asarray(human, dtype=np.float64)
    model_arr = np.asarray(model, dtype=np.float64)
    human_arr = human_arr / max(human_arr.sum(), 1.0)
    model_arr = model_arr / max(model_arr.sum(), 1.0)
    positive = np.concatenate([human_arr[human_arr > 0], model_arr[model_arr > 0]])
    vmin = max(float(positive.min()) if positive.size else 1e-4, 1e-5)
    norm = LogNorm(vmin=vmin, vmax=max(float(positive.max()) if positive.size else 1.0, vmin * 10))
    lo, hi = float(stick_values[0]), float(stick_values[-1])
    half = (hi - lo) / (len(stick_values) - 1) / 2
    extent = (lo - half, hi + half, lo - half, hi + half)
    cmap = matplotlib.colormaps["viridis"].with_extremes(bad=NEVER_COLOR)
    with plt.rc_context(_STYLE | {"axes.grid": False}):
        fig, axes = plt.subplots(1, 2, figsize=(7.2, 3.4), constrained_layout=True)
        for ax, arr, label in ((axes[0], human_arr, "human"), (axes[1], model_arr, "model")):
            shown = np.ma.masked_less_equal(arr, 0)
            image = ax.imshow(shown, origin="lower", extent=extent, cmap=cmap, norm=norm)
            ax.axhline(0, color="#ffffff", linewidth=0.5, alpha=0.6)
            ax.axvline(0, color="#ffffff", linewidth=0.5, alpha=0.6)
            ax.set_title(f"{title}: {label}")
            ax.set_xlabel("x")
            ax.set_ylabel("y")
        fig.colorbar(image, ax=axes, shrink=0.85, label="share of frames")
        return _to_png(fig)


def loss_curves(
    epochs: Sequence[float],
    train_loss: Sequence[float | None],
    val_loss: Sequence[float | None],
    title: str = "",
) -> bytes:
    """Training and validation loss per epoch (missing values are skipped)."""
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=(5.2, 2.8))
        for values, label, color in ((train_loss, "train", MODEL_COLOR), (val_loss, "validation", VAL_COLOR)):
            pts = [(e, v) for e, v in zip(epochs, values, strict=False) if v is not None]
            if pts:
                xs, ys = zip(*pts, strict=True)
                ax.plot(xs, ys, marker="o", markersize=3, label=label, color=color)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss")
        ax.set_title(title or "Loss curves")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(frameon=False)
        else:
            ax.text(0.5, 0.5, "no history recorded", ha="center", va="center", transform=ax.transAxes)
        return _to_png(fig)


def reliability_diagram(curves: dict[str, tuple[Sequence[float], Sequence[float], Sequence[int]]]) -> bytes:
    """Accuracy vs confidence per head: `curves[head] = (mean confidence, accuracy, count)` per bin."""
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=(4.0, 3.2))
        ax.plot([0, 1], [0, 1], linestyle="--", color="#9ca3af", label="perfect")
        for head, (conf, acc, count) in curves.items():
            pts = [(c, a) for c, a, n in zip(conf, acc, count, strict=True) if n > 0]
            if pts:
                xs, ys = zip(*pts, strict=True)
                ax.plot(xs, ys, marker="o", markersize=3, label=head)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("confidence")
        ax.set_ylabel("accuracy")
        ax.set_title("Calibration (sticks)")
        ax.legend(frameon=False, fontsize=7)
        return _to_png(fig)


def distribution_bars(
    labels: Sequence[str], human: Sequence[float], model: Sequence[float], title: str
) -> bytes:
    """Share of frames per class of one head, model vs human."""
    return _human_vs_model_bars(labels, human, model, "frames (%)", title, (4.0, 2.6))


def _human_vs_model_bars(
    labels: Sequence[str],
    human: Sequence[float],
    model: Sequence[float],
    ylabel: str,
    title: str,
    figsize: tuple[float, float],
) -> bytes:
    """Two bars per label (fractions shown as percent): human, then model."""
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=figsize)
        x = np.arange(len(labels))
        width = 0.38
        ax.bar(x - width / 2, np.asarray(human) * 100, width, label="human", color=HUMAN_COLOR)
        ax.bar(x + width / 2, np.asarray(model) * 100, width, label="model", color=MODEL_COLOR)
        ax.set_xticks(x, list(labels))
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.legend(frameon=False)
        return _to_png(fig)
