"""Dagster face of evaluation: the `evaluation_report` asset (one partition per backbone) and its job.

The work is in exphil_assets.evaluation (evaluate_policies, the HTML report). This
module picks the policies of the backbone - the imitation policy and, where one
exists, its PPO fine-tune - evaluates them, writes the report beside the others,
and turns the headline numbers into metadata Dagster plots over time.

Eager: the report refreshes whenever the imitation or the PPO policy of its
backbone is re-materialized. It does not wait for a PPO policy that was never
made (the eager condition ignores a missing `ppo_policy`).
"""

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetRecordsFilter,
    AssetSelection,
    AutomationCondition,
    Config,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
    define_asset_job,
)
from pydantic import Field

from exphil_assets.atomic import write_json_atomic
from exphil_assets.defs.executors import TORCH_RUN_TAGS
from exphil_assets.defs.groups import ASSET_GROUP
from exphil_assets.defs.partitions import backbone_partitions
from exphil_assets.defs.resources import ExphilStorage
from exphil_assets.errors import UserError
from exphil_assets.evaluation import plots
from exphil_assets.evaluation.evaluate import EvalOptions, evaluate_policies
from exphil_assets.evaluation.report import EvalReport, PolicyEvaluation
from exphil_assets.evaluation.report_html import policy_figures, write_report_html
from exphil_assets.training.checkpoints import policy_files, read_policy_meta

ASSET_NAME = "evaluation_report"
IMITATION = AssetKey("imitation_policy")
PPO = AssetKey("ppo_policy")
# Figures attached to the materialization (the full set is in the HTML page).
METADATA_FIGURES = ("loss_curves", "button_press_rates", "main_stick_heatmap", "c_stick_heatmap")

EAGER_WITHOUT_WAITING_FOR_PPO = AutomationCondition.eager().replace(
    "any_deps_missing", AutomationCondition.any_deps_missing().ignore(AssetSelection.assets(PPO))
)


class EvaluationConfig(Config):
    """Run config of `evaluation_report`."""

    replays: str | None = Field(
        default=None, description="folder of held-out replays (default: each policy's own validation split)"
    )
    max_files: int | None = Field(default=None, description="use at most this many held-out replays")
    closed_loop_games: int = Field(
        default=8, description="games per matchup in the mock environment (0: skip)"
    )
    closed_loop_frames: int = Field(default=1800, description="frame limit per closed-loop game")
    latency_steps: int = Field(default=300, description="timed step-mode inference calls per policy")
    threads: int | None = Field(
        default=None,
        description="torch CPU threads for the held-out pass (default: torch's; 1 on a busy machine)",
    )
    device: str = Field(default="auto", description="torch device: auto (cuda if available, else cpu), cpu, cuda or cuda:N")


def recorded_policy(context: AssetExecutionContext, key: AssetKey, backbone: str) -> Path | None:
    """The policy file the latest materialization of `key` for this backbone recorded, if it still exists."""
    records = context.instance.fetch_materializations(
        AssetRecordsFilter(asset_key=key, asset_partitions=[backbone]), limit=1
    ).records
    if not records or records[0].asset_materialization is None:
        return None
    entry = records[0].asset_materialization.metadata.get("policy_path")
    path = Path(str(entry.value)) if entry is not None else None
    return path if path is not None and path.is_file() else None


def newest_policy(models: Path, backbone: str, ppo: bool) -> Path | None:
    """The newest exported policy of `backbone` in the models folder: a PPO one, or an imitation one."""
    found = []
    for meta_path in models.glob(f"{backbone}_*_policy.json"):
        try:
            meta = read_policy_meta(meta_path)
        except (UserError, ValueError):
            continue
        if meta.get("backbone") == backbone and (meta.get("kind") == "ppo") == ppo:
            found.append((meta_path.stat().st_mtime, meta_path.name, meta_path))
    return max(found)[2] if found else None


def policies_to_evaluate(context: AssetExecutionContext, backbone: str, models: Path) -> list[Path]:
    """[imitation policy, PPO policy if any] of the backbone: recorded lineage first, else the newest files."""
    imitation = recorded_policy(context, IMITATION, backbone) or newest_policy(models, backbone, ppo=False)
    if imitation is None:
        raise UserError(f"no {backbone} imitation policy: materialize imitation_policy[{backbone}] first")
    ppo = recorded_policy(context, PPO, backbone) or newest_policy(models, backbone, ppo=True)
    return [imitation] + ([ppo] if ppo is not None else [])


def _markdown_table(report: EvalReport) -> str:
    lines = [
        "| # | policy | val loss | buttons | main x | main y | p99 ms | win rate |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in report.comparison:
        win = "-" if r.win_rate is None else f"{100 * r.win_rate:.0f}%"
        p99 = "-" if r.latency_p99_ms is None else f"{r.latency_p99_ms:.2f}"
        loss = "-" if r.val_loss is None else f"{r.val_loss:.4f}"
        lines.append(
            f"| {r.rank} | {r.name} | {loss} | {100 * r.button_accuracy:.1f}% | "
            f"{100 * r.head_accuracies.get('main_x', 0):.1f}% | {100 * r.head_accuracies.get('main_y', 0):.1f}% | "
            f"{p99} | {win} |"
        )
    return "\n".join(lines)


def headline_metrics(evaluation: PolicyEvaluation, report: EvalReport, prefix: str = "") -> dict[str, Any]:
    """Numbers Dagster plots across materializations (one series per key)."""
    m = evaluation.metrics
    row = next(r for r in report.comparison if r.name == evaluation.summary.name)
    out: dict[str, Any] = {
        "val_loss": m.loss,
        "button_accuracy": m.buttons.accuracy,
        "stick_top3_accuracy": row.stick_top3_mean,
        "stick_ece": row.stick_ece_mean,
        **{f"accuracy_{head}": acc for head, acc in m.head_accuracies.items()},
        "latency_p99_ms": evaluation.latency.p99_ms if evaluation.latency else None,
        "latency_median_ms": evaluation.latency.median_ms if evaluation.latency else None,
        "fps60_capable": evaluation.latency.fps60_capable if evaluation.latency else None,
        "win_rate": row.win_rate,
    }
    return {f"{prefix}{k}": v for k, v in out.items() if v is not None}


def report_metadata(report: EvalReport, html_path: Path, json_path: Path, primary: str) -> dict[str, Any]:
    evaluations = {e.summary.name: e for e in report.policies}
    main = evaluations[primary]
    meta: dict[str, Any] = {
        **headline_metrics(main, report),
        "held_out_frames": report.data.frames,
        "held_out_replays": report.data.files,
        "held_out_source": f"{report.data.kind}: {report.data.path} ({report.data.split})",
        "policies": MetadataValue.json([e.summary.path for e in report.policies]),
        "comparison": MetadataValue.md(_markdown_table(report)),
        "report_path": MetadataValue.path(str(html_path)),
        "report_json_path": MetadataValue.path(str(json_path)),
    }
    for e in report.policies:
        if e.summary.name != primary:
            meta.update(headline_metrics(e, report, prefix="ppo_"))
    figures = policy_figures(main)
    for name in METADATA_FIGURES:
        meta[name] = MetadataValue.md(f"![{name}]({plots.png_data_uri(figures[name])})")
    return meta


@asset(
    name=ASSET_NAME,
    group_name=ASSET_GROUP,
    partitions_def=backbone_partitions,
    deps=[IMITATION, PPO],
    automation_condition=EAGER_WITHOUT_WAITING_FOR_PPO,
    kinds={"pytorch", "html"},
    description=(
        "Held-out evaluation of the backbone's imitation policy (and its PPO fine-tune where one exists): "
        "loss, per-head and top-3 accuracy, lift over baselines, calibration, press rates, step-mode "
        "latency, closed-loop games in the mock env. reports/{backbone}_eval_{timestamp}.html (self-contained) "
        "and .json."
    ),
)
def evaluation_report(
    context: AssetExecutionContext, config: EvaluationConfig, storage: ExphilStorage
) -> MaterializeResult:
    backbone = context.partition_key
    options = EvalOptions(
        max_files=config.max_files,
        closed_loop_games=config.closed_loop_games,
        closed_loop_max_frames=config.closed_loop_frames,
        latency_steps=config.latency_steps,
        threads=config.threads,
        device=config.device,
        progress=False,
    )
    try:
        paths = policies_to_evaluate(context, backbone, storage.models_path())
        context.log.info(f"evaluating {', '.join(map(str, paths))}")
        report = evaluate_policies(
            paths, data_root=storage.data_path(), replays=config.replays, options=options
        )
    except UserError as exc:
        raise Failure(description=str(exc)) from exc
    stem = storage.reports_path() / f"{backbone}_eval_{datetime.now(UTC):%Y%m%dT%H%M%S}"
    html_path = write_report_html(report, stem.with_suffix(".html"))
    json_path = stem.with_suffix(".json")
    write_json_atomic(json_path, report.to_dict())
    primary = policy_files(paths[0])[0].name.removesuffix(".safetensors").removesuffix("_policy")
    return MaterializeResult(metadata=report_metadata(report, html_path, json_path, primary))


evaluate_job = define_asset_job(
    "evaluate",
    selection=[evaluation_report],
    tags=TORCH_RUN_TAGS,
    description="Evaluate the policies of one backbone and write the HTML report (pick the backbone partition).",
)

evaluation_assets = [evaluation_report]
evaluation_jobs = [evaluate_job]
