"""Dagster face of PPO fine-tuning: the `ppo_policy` asset (one partition per backbone) and its job.

The work is in exphil_assets.rl.ppo (train_ppo); this module picks the imitation
policy to start from, maps run config to a PPOConfig and the PPOResult to metadata.
The starting policy is, in order: the run config's `pretrained`, the policy the
latest `imitation_policy` materialization of this backbone recorded (exact lineage),
else the newest exported imitation policy of the backbone in the models folder.
"""

import base64
import dataclasses
import io
import math
from pathlib import Path
from typing import Any, get_type_hints

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetRecordsFilter,
    Config,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
    define_asset_job,
)
from pydantic import Field, create_model

from exphil_assets.defs.executors import TORCH_RUN_TAGS
from exphil_assets.defs.groups import ASSET_GROUP
from exphil_assets.defs.partitions import backbone_partitions
from exphil_assets.defs.resources import ExphilStorage
from exphil_assets.errors import UserError
from exphil_assets.rl.ppo import PPOConfig, PPOResult, config_docs, latest_imitation_policy, train_ppo
from exphil_assets.training.checkpoints import read_policy_meta

ASSET_NAME = "ppo_policy"
UPSTREAM = AssetKey("imitation_policy")


def _ppo_run_config_class() -> type[Config]:
    """A Dagster Config with every PPOConfig field (same defaults and docs) plus `pretrained`."""
    docs = config_docs()
    fields: dict[str, Any] = {
        "pretrained": (str | None, Field(default=None, description="exported policy to start from "
                                         "(default: the imitation_policy of this backbone)")),  # fmt: skip
    }
    hints = get_type_hints(PPOConfig)
    for f in dataclasses.fields(PPOConfig):
        fields[f.name] = (hints[f.name], Field(default=f.default, description=docs.get(f.name, "")))
    return create_model("PPOPolicyConfig", __base__=Config, **fields)  # type: ignore[call-overload]


PPOPolicyConfig = _ppo_run_config_class()


def starting_policy(context: AssetExecutionContext, pretrained: str | None, backbone: str, models: Path) -> Path:
    """The imitation policy to fine-tune (see the module docstring for the order)."""
    if pretrained:
        return Path(pretrained)
    records = context.instance.fetch_materializations(
        AssetRecordsFilter(asset_key=UPSTREAM, asset_partitions=[backbone]), limit=1
    ).records
    if records and records[0].asset_materialization is not None:
        entry = records[0].asset_materialization.metadata.get("policy_path")
        if entry is not None and Path(str(entry.value)).is_file():
            return Path(str(entry.value))
    return latest_imitation_policy(models, backbone)


def reward_curve_markdown(result: PPOResult) -> str:
    """Mean episode return and KL to the teacher against frames played, as an inline PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frames = [r["frames"] for r in result.reward_curve]
    fig, (ax_r, ax_kl) = plt.subplots(1, 2, figsize=(8, 3), dpi=100)
    returns = [(f, r["episode_return"]) for f, r in zip(frames, result.reward_curve, strict=True)
               if not math.isnan(r["episode_return"])]  # fmt: skip
    if returns:
        ax_r.plot(*zip(*returns, strict=True), label="episode return (last 50 games)")
    ax_r.plot(frames, [r["reward_per_frame"] * 1000 for r in result.reward_curve], alpha=0.6,
              label="reward per 1000 frames")  # fmt: skip
    ax_r.set_xlabel("frames")
    ax_r.set_title(f"{result.backbone} PPO reward")
    ax_r.legend(fontsize=7)
    ax_kl.plot(frames, [r["kl_teacher"] for r in result.reward_curve], color="tab:red")
    ax_kl.set_xlabel("frames")
    ax_kl.set_title("KL(pi || teacher) per frame")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return f"![reward curve](data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()})"


def ppo_metadata(result: PPOResult, cfg: PPOConfig) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "backbone": result.backbone,
        "opponent": cfg.resolved_opponent,
        "timesteps": result.timesteps,
        "updates": result.updates,
        "frames_per_second": round(result.frames_per_second, 1),
        "device": result.device,
        "kl_to_teacher": result.kl_to_teacher,
        "win_rate_before": result.win_rate_before,
        "win_rate_after": result.win_rate_after,
        "reward_curve": MetadataValue.md(reward_curve_markdown(result)),
        "policy_path": MetadataValue.path(str(result.policy_path)),
        "checkpoint_path": MetadataValue.path(str(result.checkpoint_path)),
        "config_path": MetadataValue.path(str(result.config_path)),
        "pretrained_path": MetadataValue.path(str(result.pretrained_path)),
    }
    if result.match_before and result.match_after:
        meta["matches"] = MetadataValue.json({"before": result.match_before, "after": result.match_after})
    return {k: v for k, v in meta.items() if v is not None}


@asset(
    name=ASSET_NAME,
    group_name=ASSET_GROUP,
    partitions_def=backbone_partitions,
    deps=[UPSTREAM],
    kinds={"pytorch"},
    description=(
        "The imitation policy of each backbone fine-tuned with PPO in the mock simulator (or Dolphin): "
        "models/{backbone}_ppo_{timestamp}.pt, _policy.safetensors + _policy.json, _config.json; "
        "win rates against the scripted opponent before and after."
    ),
)
def ppo_policy(
    context: AssetExecutionContext, config: PPOPolicyConfig, storage: ExphilStorage  # type: ignore[valid-type]
) -> MaterializeResult:
    backbone = context.partition_key
    values = config.model_dump()  # type: ignore[attr-defined]
    pretrained = values.pop("pretrained")
    cfg = PPOConfig(**values)
    models = storage.models_path()
    try:
        start = starting_policy(context, pretrained, backbone, models)
        if read_policy_meta(start).get("backbone") != backbone:
            raise UserError(f"{start} is not a {backbone} policy (partition {backbone})")
        context.log.info(f"fine-tuning {start} with PPO for {cfg.timesteps} frames against {cfg.resolved_opponent}")
        result = train_ppo(cfg, start, models, progress=False)
    except UserError as exc:
        raise Failure(description=str(exc)) from exc
    return MaterializeResult(metadata=ppo_metadata(result, cfg))


ppo_finetune = define_asset_job(
    "ppo_finetune",
    selection=[ppo_policy],
    tags=TORCH_RUN_TAGS,
    description="Fine-tune the imitation policy of one backbone with PPO (pick the backbone partition).",
)

ppo_assets = [ppo_policy]
ppo_jobs = [ppo_finetune]
