"""Render an `EvalReport` as ONE self-contained HTML page.

No network: no CDN, no web fonts, no external script or stylesheet. Figures are
PNGs embedded as base64 data URIs; the CSS is inline; the only script-like
behaviour is native <details>. The page replaces the original Livebook
dashboard's four sections for every policy: load policy (config, architecture),
test inference (sample states -> actions), compare to replays (accuracy vs
human), visualise actions (distributions) - plus loss curves, the backbone
comparison table, closed-loop results and latency.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Sequence
from pathlib import Path

from exphil_assets.atomic import write_text_atomic
from exphil_assets.evaluation import plots
from exphil_assets.evaluation.closed_loop import ClosedLoopReport, MatchupResult
from exphil_assets.evaluation.metrics import STICK_HEADS, STICKS
from exphil_assets.evaluation.report import EvalReport, PolicyEvaluation
from exphil_assets.features.constants import STICK_BUCKETS
from exphil_assets.features.labels import decode_stick

HEAD_TITLES = {
    "buttons": "Buttons",
    "main_x": "Main stick x",
    "main_y": "Main stick y",
    "c_x": "C-stick x",
    "c_y": "C-stick y",
    "shoulder": "Shoulder",
}
STICK_TITLES = {"main": "Main stick", "c": "C-stick"}

CSS = """
:root { --ink:#111827; --muted:#6b7280; --line:#e5e7eb; --bg:#f9fafb; --card:#ffffff;
        --accent:#2563eb; --good:#059669; --bad:#dc2626; --human:#f59e0b; }
* { box-sizing: border-box; }
body { margin:0; font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       color: var(--ink); background: var(--bg); }
header { background: #0f172a; color: #f8fafc; padding: 28px 0 22px; }
header h1 { margin: 0 0 4px; font-size: 24px; letter-spacing: -0.01em; }
header p { margin: 0; color: #cbd5e1; }
.wrap { max-width: 1240px; margin: 0 auto; padding: 0 24px; }
nav { background: var(--card); border-bottom: 1px solid var(--line); position: sticky; top: 0; z-index: 1; }
nav a { display: inline-block; padding: 10px 12px 10px 0; margin-right: 8px; color: var(--accent);
        text-decoration: none; font-weight: 600; }
section { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 20px 24px;
          margin: 20px 0; }
h2 { margin: 0 0 12px; font-size: 19px; }
h4 { margin: 10px 0 4px; font-size: 13px; color: #374151; }
h3 { margin: 22px 0 8px; font-size: 15px; color: #1f2937; border-bottom: 1px solid var(--line);
     padding-bottom: 4px; }
.note { color: var(--muted); font-size: 13px; margin: 4px 0 10px; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 10px; font-variant-numeric: tabular-nums; }
th, td { text-align: right; padding: 5px 8px; border-bottom: 1px solid var(--line); white-space: nowrap; }
th { background: #f3f4f6; font-weight: 600; font-size: 12px; text-transform: uppercase; letter-spacing: .03em;
     color: #374151; }
th:first-child, td:first-child, td.text, th.text { text-align: left; }
.wrap-cell { white-space: normal; min-width: 180px; }
tbody tr:nth-child(even) { background: #fafafa; }
.scroll { overflow-x: auto; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(160px, 1fr)); gap: 12px; margin: 8px 0 4px; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; background: var(--bg); }
.card .label { color: var(--muted); font-size: 12px; }
.card .value { font-size: 20px; font-weight: 700; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 999px; font-size: 12px; font-weight: 600;
         background: #e0e7ff; color: #3730a3; vertical-align: middle; }
.ok { color: var(--good); font-weight: 600; } .no { color: var(--bad); font-weight: 600; }
.figs { display: flex; flex-wrap: wrap; gap: 16px; align-items: flex-start; }
.figs img { max-width: 100%; height: auto; border: 1px solid var(--line); border-radius: 6px; background: #fff; }
.grid2 { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 20px; }
@media (max-width: 800px) { .grid2 { grid-template-columns: 1fr; } }
table.compact th, table.compact td { padding: 5px 5px; font-size: 12.5px; }
table.compact th { letter-spacing: 0; }
.kv { display: grid; grid-template-columns: repeat(auto-fill, minmax(250px, 1fr)); gap: 0 18px;
      border-top: 1px solid var(--line); margin-bottom: 6px; }
.kv > div { display: flex; justify-content: space-between; gap: 10px; padding: 4px 2px;
            border-bottom: 1px solid var(--line); font-size: 13px; }
.kv .k { color: var(--muted); } .kv .v { font-variant-numeric: tabular-nums; text-align: right;
                                        overflow-wrap: anywhere; }
pre { background: #0f172a; color: #e2e8f0; padding: 12px; border-radius: 6px; overflow-x: auto; font-size: 12px; }
details summary { cursor: pointer; color: var(--accent); font-weight: 600; margin: 6px 0; }
footer { color: var(--muted); font-size: 12px; padding: 10px 0 30px; }
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _pct(value: float | None) -> str:
    return "&ndash;" if value is None else f"{100.0 * value:.1f}%"


def _num(value: float | None, digits: int = 3) -> str:
    return "&ndash;" if value is None else f"{value:.{digits}f}"


def _signed_pct(value: float | None) -> str:
    return "&ndash;" if value is None else f"{100.0 * value:+.1f} pt"


def _yes_no(flag: bool | None) -> str:
    if flag is None:
        return "&ndash;"
    return '<span class="ok">yes</span>' if flag else '<span class="no">no</span>'


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], text_cols: int = 1, css: str = "") -> str:
    """Cells are pre-escaped HTML; the first `text_cols` columns are left-aligned."""
    head = "".join(f'<th class="{"text" if i < text_cols else ""}">{h}</th>' for i, h in enumerate(headers))
    body = "".join(
        "<tr>"
        + "".join(f'<td class="{"text" if i < text_cols else ""}">{c}</td>' for i, c in enumerate(row))
        + "</tr>"
        for row in rows
    )
    return f'<div class="scroll"><table class="{css}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _img(png: bytes, alt: str) -> str:
    return f'<img src="{plots.png_data_uri(png)}" alt="{_e(alt)}">'


def _card(label: str, value: str) -> str:
    return f'<div class="card"><div class="label">{_e(label)}</div><div class="value">{value}</div></div>'


# --- figures (also attached to Dagster materializations) -------------------------------------


def policy_figures(evaluation: PolicyEvaluation) -> dict[str, bytes]:
    """The key PNG figures of one policy, by name."""
    m = evaluation.metrics
    name = evaluation.summary.name
    stick_values = [decode_stick(b) for b in range(STICK_BUCKETS)]
    figures = {
        "button_press_rates": plots.button_press_rates(
            [b.button for b in m.buttons.per_button],
            [b.predicted_press_rate for b in m.buttons.per_button],
            [b.actual_press_rate for b in m.buttons.per_button],
            title=f"Button press rates: {name}",
        ),
    }
    for stick, heat in m.stick_heatmaps.items():
        figures[f"{stick}_stick_heatmap"] = plots.stick_heatmaps(
            heat.human, heat.model, stick_values, STICK_TITLES.get(stick, stick)
        )
    h = evaluation.history
    figures["loss_curves"] = plots.loss_curves(
        h.epochs, h.train_loss, h.val_loss, title=f"Loss curves: {name}"
    )
    figures["calibration"] = plots.reliability_diagram(
        {
            head: (
                [b.mean_confidence for b in m.heads[head].calibration],
                [b.accuracy for b in m.heads[head].calibration],
                [b.count for b in m.heads[head].calibration],
            )
            for head in STICK_HEADS
        }
    )
    shoulder = m.heads["shoulder"]
    figures["shoulder_distribution"] = plots.distribution_bars(
        [str(i) for i in range(shoulder.classes)],
        shoulder.label_distribution,
        shoulder.predicted_distribution,
        "Shoulder (trigger) buckets",
    )
    return figures


# --- sections ----------------------------------------------------------------------------------


def _comparison_section(report: EvalReport) -> str:
    rows = [
        [
            f"{row.rank}",
            f'<a href="#policy-{row.rank}">{_e(row.name)}</a>',
            f'<span class="badge">{_e(row.backbone)}</span>',
            f"{row.parameters:,}",
            _num(row.val_loss),
            _pct(row.button_accuracy),
            *(_pct(row.head_accuracies.get(h)) for h in (*STICK_HEADS, "shoulder")),
            _pct(row.stick_top3_mean),
            _num(row.stick_ece_mean),
            _num(row.latency_p99_ms, 2),
            _yes_no(row.fps60_capable),
            _pct(row.win_rate),
        ]
        for row in report.comparison
    ]
    headers = [
        "#",
        "Policy",
        "Backbone",
        "Params",
        "Val loss",
        "Buttons",
        "Main x",
        "Main y",
        "C x",
        "C y",
        "Shoulder",
        "Top-3",
        "ECE",
        "p99 ms",
        "60 fps",
        "Win rate",
    ]
    return (
        '<section id="comparison"><h2>Backbone comparison</h2>'
        '<p class="note">Ranked by held-out loss (training\'s loss function, lower is better). '
        "Accuracies are top-1 on held-out frames; ECE is the expected calibration error (15 bins) "
        "averaged over the four stick heads; p99 is the step-mode latency per frame at batch 1; "
        "win rate is the mean over scripted opponents in the mock environment.</p>"
        f"{_table(headers, rows, text_cols=3, css='compact')}</section>"
    )


def _matchup_rows(matchups: Sequence[MatchupResult]) -> list[list[str]]:
    return [
        [
            _e(m.policy),
            _e(m.opponent),
            f"{m.games}",
            f"{m.wins} / {m.losses} / {m.draws}",
            _pct(m.win_rate),
            f"{m.stock_differential:+.2f}",
            f"{m.damage_differential:+.1f}",
            f"{m.mean_game_frames:.0f}",
        ]
        for m in matchups
    ]


def _closed_loop_section(closed: ClosedLoopReport | None) -> str:
    body = '<section id="closed-loop"><h2>Closed-loop games</h2>'
    if closed is None:
        return body + '<p class="note">Not run (use <code>--closed-loop-games N</code>).</p></section>'
    headers = [
        "Policy",
        "Opponent",
        "Games",
        "W / L / D",
        "Win rate",
        "Stock diff",
        "Damage diff",
        "Frames/game",
    ]
    body += (
        f'<p class="note">Environment: {_e(closed.env)}; {closed.games_per_matchup} game(s) per matchup, '
        f"at most {closed.max_frames} frames each. Differentials are means per game from the first-named "
        "policy's side (stocks taken minus stocks lost; damage dealt minus damage taken).</p>"
        "<h3>Against scripted opponents</h3>" + _table(headers, _matchup_rows(closed.scripted), text_cols=2)
    )
    if closed.head_to_head:
        body += "<h3>Head to head</h3>" + _table(headers, _matchup_rows(closed.head_to_head), text_cols=2)
    return body + "</section>"


def _kv_grid(title: str, values: dict) -> str:
    """Settings as a compact grid of name / value pairs."""
    items = "".join(
        f'<div><span class="k">{_e(k)}</span><span class="v">{_e(_short(v))}</span></div>'
        for k, v in values.items()
    )
    return f'<div><h4>{_e(title)}</h4><div class="kv">{items}</div></div>'


def _short(value: object) -> str:
    text = json.dumps(value) if isinstance(value, list | dict | tuple) else str(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _action_text(action: dict) -> str:
    buttons = "+".join(action.get("buttons", [])) or "none"
    main = action.get("main", (0, 0))
    c = action.get("c", (0, 0))
    return (
        f"{_e(buttons)} &middot; main ({main[0]:+.2f}, {main[1]:+.2f}) &middot; "
        f"c ({c[0]:+.2f}, {c[1]:+.2f}) &middot; L/R {action.get('shoulder', 0):.2f}"
    )


def _policy_section(evaluation: PolicyEvaluation, rank: int) -> str:
    s, m, lat = evaluation.summary, evaluation.metrics, evaluation.latency
    figs = policy_figures(evaluation)
    stick_acc = sum(m.heads[h].accuracy for h in ("main_x", "main_y")) / 2
    cards = "".join(
        [
            _card("Held-out loss", _num(m.loss)),
            _card("Button accuracy", _pct(m.buttons.accuracy)),
            _card("Main stick accuracy (x, y mean)", _pct(stick_acc)),
            _card("Held-out frames", f"{m.frames:,}"),
            _card("Latency p99", f"{_num(lat.p99_ms, 2)} ms" if lat else "&ndash;"),
            _card("60 fps capable", _yes_no(lat.fps60_capable if lat else None)),
        ]
    )
    out = [
        f'<section id="policy-{rank}" class="policy">',
        f'<h2>#{rank} {_e(s.name)} <span class="badge">{_e(s.backbone)}</span></h2>',
        f'<p class="note">{_e(s.path)} &middot; {s.parameters:,} parameters &middot; '
        f"evaluated {m.frames:,} frames in {evaluation.eval_seconds:.1f} s "
        f"({evaluation.frames_per_second:,.0f} frames/s)</p>",
        f'<div class="cards">{cards}</div>',
        # 1. Load policy
        "<h3>1. Policy: configuration and architecture</h3>",
        _kv_grid("Network (PolicyConfig)", s.policy_config),
        _kv_grid(
            "Training (from the run's _config.json)",
            s.training or {"settings": "no _config.json beside the policy"},
        ),
        _kv_grid("Features (FeatureSpec)", s.feature_spec),
        f"<details><summary>Architecture</summary><pre>{_e(s.architecture)}</pre></details>",
        '<h3>Loss curves (training history)</h3><div class="figs">',
        _img(figs["loss_curves"], f"loss curves of {s.name}"),
        "</div>",
        # 2. Test inference
        "<h3>2. Test inference: held-out states &rarr; actions (step mode, deterministic)</h3>",
    ]
    if evaluation.samples:
        rows = [
            [
                f"{x.frame}",
                '<div class="wrap-cell">'
                + (" &middot; ".join(f"{_e(k)} {v:g}" for k, v in x.state.items()) or "&ndash;")
                + "</div>",
                _action_text(x.human),
                _action_text(x.model),
                '<div class="wrap-cell">'
                + " ".join(
                    f'<span class="{"ok" if ok else "no"}">{_e(h)}</span>' for h, ok in x.matches.items()
                )
                + "</div>",
            ]
            for x in evaluation.samples
        ]
        out.append(_table(["Frame", "State", "Human", "Model", "Heads matched"], rows, text_cols=5))
    else:
        out.append('<p class="note">No samples.</p>')
    # 3. Compare to replays
    out.append("<h3>3. Compare to replays: accuracy vs human play</h3>")
    head_rows = [
        [
            "Buttons (mean of 8)",
            _pct(m.buttons.accuracy),
            "&ndash;",
            _pct(m.buttons.lift_over_majority.baseline_accuracy),
            _signed_pct(m.buttons.lift_over_majority.difference),
            _num(m.buttons.lift_over_majority.ratio, 2),
            _signed_pct(m.buttons.lift_over_uniform.difference),
            _num(m.buttons.lift_over_uniform.ratio, 2),
            "&ndash;",
            _num(m.loss_by_head.get("buttons")),
        ]
    ]
    for head, h in m.heads.items():
        head_rows.append(
            [
                HEAD_TITLES.get(head, head),
                _pct(h.accuracy),
                _pct(h.top3_accuracy),
                _pct(h.lift_over_majority.baseline_accuracy),
                _signed_pct(h.lift_over_majority.difference),
                _num(h.lift_over_majority.ratio, 2),
                _signed_pct(h.lift_over_uniform.difference),
                _num(h.lift_over_uniform.ratio, 2),
                _num(h.ece),
                _num(m.loss_by_head.get(head)),
            ]
        )
    out.append(
        '<p class="note">Lift = accuracy &minus; baseline (points) and accuracy / baseline (ratio). '
        "Majority baseline: always the most frequent human value on these frames; uniform: a random guess "
        "(1/K, or 1/2 per button).</p>"
    )
    out.append(
        _table(
            [
                "Head",
                "Accuracy",
                "Top-3",
                "Majority",
                "Lift vs maj.",
                "Ratio",
                "Lift vs uniform",
                "Ratio",
                "ECE",
                "Loss",
            ],
            head_rows,
        )
    )
    out.append(
        f'<p class="note">All eight buttons right on the same frame: {_pct(m.buttons.exact_match_accuracy)}.</p>'
    )
    button_rows = [
        [
            _e(b.button),
            _pct(b.accuracy),
            _pct(b.majority_baseline),
            _pct(b.actual_press_rate),
            _pct(b.predicted_press_rate),
        ]
        for b in m.buttons.per_button
    ]
    confusion_rows = [
        [
            HEAD_TITLES[head],
            f"{c.true_bucket} ({c.true_value:+.2f})",
            f"{c.predicted_bucket} ({c.predicted_value:+.2f})",
            f"{c.count:,}",
            _pct(c.share),
        ]
        for head in STICK_HEADS
        for c in m.heads[head].top_confusions[:3]
    ]
    out += [
        '<div class="grid2"><div><h4>Per button</h4>',
        _table(["Button", "Accuracy", "Majority", "Human press rate", "Model press rate"], button_rows),
        "</div><div><h4>Top stick confusions (human &rarr; model)</h4>",
        _table(["Head", "Human bucket", "Model bucket", "Frames", "Share"], confusion_rows, text_cols=3)
        if confusion_rows
        else '<p class="note">No confusions: every stick prediction was right.</p>',
        "</div></div>",
        '<div class="figs">',
        _img(figs["calibration"], "reliability diagram of the stick heads"),
        "</div>",
        # 4. Visualise actions
        "<h3>4. Visualise actions: model vs human distributions</h3>",
        '<div class="figs">',
        _img(figs["button_press_rates"], "button press rates, model vs human"),
        _img(figs["shoulder_distribution"], "shoulder bucket distribution"),
        "</div>",
        '<p class="note">Stick heat maps: share of frames per (x, y) bucket; the model\'s stick is its '
        "argmax per axis given the human's earlier heads (teacher forcing). Log colour scale; grey = never.</p>",
        '<div class="figs">',
        *(
            _img(figs[f"{stick}_stick_heatmap"], f"{STICK_TITLES[stick]} heat map, human vs model")
            for stick in STICKS
            if f"{stick}_stick_heatmap" in figs
        ),
        "</div>",
        "<h3>Inference latency (step mode, batch 1)</h3>",
    ]
    if lat:
        out.append(
            _table(
                [
                    "Median ms",
                    "p99 ms",
                    "Mean ms",
                    "Max ms",
                    "Budget ms",
                    "60 fps capable",
                    "Steps",
                    "Device",
                    "Threads",
                ],
                [
                    [
                        _num(lat.median_ms, 3),
                        _num(lat.p99_ms, 3),
                        _num(lat.mean_ms, 3),
                        _num(lat.max_ms, 3),
                        _num(lat.frame_budget_ms, 2),
                        _yes_no(lat.fps60_capable),
                        f"{lat.steps}",
                        _e(lat.device),
                        f"{lat.torch_threads}",
                    ]
                ],
            )
        )
    else:
        out.append('<p class="note">Not measured.</p>')
    out.append("</section>")
    return "\n".join(out)


def render_report_html(report: EvalReport) -> str:
    """The whole page as one string."""
    d = report.data
    nav = "".join(
        [
            '<a href="#comparison">Comparison</a>',
            '<a href="#closed-loop">Closed loop</a>',
            *(
                f'<a href="#policy-{i}">{_e(p.summary.name)}</a>'
                for i, p in enumerate(report.policies, start=1)
            ),
        ]
    )
    title = "ExPhil evaluation report"
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{title}</title><style>{CSS}</style></head><body>",
            f'<header><div class="wrap"><h1>{title}</h1>',
            f"<p>{len(report.policies)} polic{'y' if len(report.policies) == 1 else 'ies'} &middot; "
            f"held-out data: {_e(d.kind)} {_e(d.path)} (split {_e(d.split)}, {d.files} replay(s), "
            f"{d.frames:,} frames) &middot; created {_e(report.created_at)}</p></div></header>",
            f'<nav><div class="wrap">{nav}</div></nav>',
            '<main class="wrap">',
            _comparison_section(report),
            _closed_loop_section(report.closed_loop),
            *(_policy_section(p, i) for i, p in enumerate(report.policies, start=1)),
            "</main>",
            f'<footer><div class="wrap">ExPhil &middot; report format v{report.version} &middot; '
            "self-contained: no network requests</div></footer>",
            "</body></html>",
        ]
    )


def write_report_html(report: EvalReport, path: str | Path) -> Path:
    """Write the page atomically; returns the path."""
    path = Path(path)
    write_text_atomic(path, render_report_html(report))
    return path
