"""Dagster face of imitation training: the `imitation_policy` asset, its check, one job per preset.

The work is in exphil_assets.training (run_train); this module maps run config and the
backbone partition to a TrainConfig, and the TrainResult to metadata. The run config
mirrors TrainConfig field by field (generated from it, so the two cannot drift); a
field left unset (null) falls back to the preset, then to the TrainConfig default.
The data root and the models folder come from the `storage` resource.
"""


import base64
import io
import warnings
from pathlib import Path
from typing import Any

import torch
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetExecutionContext,
    AssetKey,
    AssetRecordsFilter,
    Config,
    Failure,
    MaterializeResult,
    MetadataValue,
    PreviewWarning,
    asset,
    asset_check,
    define_asset_job,
)
from pydantic import Field, create_model

from exphil_assets.defs.executors import TORCH_RUN_TAGS
from exphil_assets.defs.groups import ASSET_GROUP
from exphil_assets.defs.partitions import backbone_partitions
from exphil_assets.defs.resources import ExphilStorage
from exphil_assets.errors import UserError
from exphil_assets.training.checkpoints import load_policy
from exphil_assets.training.config import TrainConfig, config_fields, field_docs, field_types, resolve_config
from exphil_assets.training.loop import TrainResult
from exphil_assets.training.presets import PRESETS, preset_run_config
from exphil_assets.training.run import run_train

ASSET_NAME = "imitation_policy"
# Options that are not run config: paths come from the storage resource, ingestion is the
# replay_frames asset's job, and the partition key is the backbone.
NOT_RUN_CONFIG = frozenset({"data", "models_dir", "replays", "backbone", "temporal"})


def _optional_type(name: str) -> Any:
    hint = field_types()[name]
    if name == "hidden":
        return list[int] | None
    base = {bool: bool, int: int, float: float, str: str}.get(hint)
    if base is None:  # already Optional[...]
        text = str(hint)
        base = int if "int" in text and "float" not in text else float if "float" in text else str
    return base | None


def _train_config_class() -> type[Config]:
    """A Dagster Config with every TrainConfig option (optional) plus `preset`."""
    docs = field_docs()
    fields: dict[str, Any] = {
        "preset": (str | None, Field(default=None, description=f"one of {', '.join(PRESETS)}; fields override it")),
        "progress": (bool, Field(default=False, description="progress bars on the step's stderr (CLI runs)")),
    }
    for name in config_fields():
        if name not in NOT_RUN_CONFIG:
            fields[name] = (_optional_type(name), Field(default=None, description=docs.get(name, "")))
    return create_model("ImitationPolicyConfig", __base__=Config, **fields)  # type: ignore[call-overload]


ImitationPolicyConfig = _train_config_class()


def train_config_from_run_config(config: Config, backbone: str, storage: ExphilStorage) -> TrainConfig:
    """Defaults < preset < run-config fields; the partition key is the backbone."""
    overrides = {k: v for k, v in config.model_dump().items() if v is not None and k not in ("preset", "progress")}
    overrides.update(backbone=backbone, temporal=backbone != "mlp", models_dir=str(storage.models_path()))
    return resolve_config(config.preset, overrides)  # type: ignore[attr-defined]


def loss_curve_markdown(result: TrainResult) -> str:
    """Train/val loss per epoch as an inline PNG (markdown), for the Dagster UI."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [r.epoch + 1 for r in result.history]
    fig, ax = plt.subplots(figsize=(5, 3), dpi=100)
    ax.plot(epochs, [r.train.get("loss") for r in result.history], marker="o", label="train")
    val = [(r.epoch + 1, r.val["loss"]) for r in result.history if r.val]
    if val:
        ax.plot(*zip(*val, strict=True), marker="o", label="validation")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss per frame")
    ax.set_title(f"{result.backbone} imitation loss")
    ax.legend()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return f"![loss curve](data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()})"


def training_metadata(result: TrainResult) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "dataset_id": result.dataset_id,
        "backbone": result.backbone,
        "best_val_loss": result.best_val_loss,
        "final_val_loss": result.final_val_loss,
        "final_train_loss": result.final_train_loss,
        "epochs_run": result.epochs_run,
        "steps": result.steps,
        "stopped": result.stopped,
        "params": result.params,
        "config_hash": result.config_hash,
        "device": result.device,
        "head_accuracy": MetadataValue.json(result.head_accuracy),
        "loss_curve": MetadataValue.md(loss_curve_markdown(result)),
    }
    meta.update({f"accuracy_{head}": acc for head, acc in result.head_accuracy.items()})
    for key, path in result.files.items():
        meta[f"{key}_path"] = MetadataValue.path(path)
    return {k: v for k, v in meta.items() if v is not None}


@asset(
    name=ASSET_NAME,
    group_name=ASSET_GROUP,
    partitions_def=backbone_partitions,
    deps=[AssetKey("embedded_dataset")],
    kinds={"pytorch"},
    description=(
        "A policy trained by imitation on the embedded dataset, one partition per backbone: "
        "models/{backbone}_{name}_{timestamp}.pt (full state), _policy.safetensors + _policy.json, "
        "_config.json (provenance and results)."
    ),
)
def imitation_policy(
    context: AssetExecutionContext, config: ImitationPolicyConfig, storage: ExphilStorage  # type: ignore[valid-type]
) -> MaterializeResult:
    try:
        cfg = train_config_from_run_config(config, context.partition_key, storage)
        context.log.info(f"training {cfg.resolved_backbone} ({cfg.epochs} epochs) on {storage.data_path()}")
        result = run_train(cfg, storage.data_path(), progress=config.progress)
    except UserError as exc:
        raise Failure(description=str(exc)) from exc
    return MaterializeResult(metadata=training_metadata(result))


def _imitation_policy_loads(context: AssetCheckExecutionContext) -> AssetCheckResult:
    key = context.partition_key if context.has_partition_key else None
    records = context.instance.fetch_materializations(
        AssetRecordsFilter(asset_key=AssetKey(ASSET_NAME), asset_partitions=[key] if key else None), limit=1
    ).records
    if not records:
        return AssetCheckResult(passed=False, metadata={"problem": f"no materialization of partition {key}"})
    path = records[0].asset_materialization.metadata["policy_path"].value  # type: ignore[union-attr]
    problems = policy_problems(path)
    metadata: dict[str, Any] = {"policy_path": MetadataValue.path(path)}
    if problems:
        metadata["problems"] = MetadataValue.md("\n".join(f"- {p}" for p in problems))
    return AssetCheckResult(passed=not problems, metadata=metadata)


# Partitioned checks are a Dagster preview feature; the check must see its own partition.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", category=PreviewWarning)
    imitation_policy_loads = asset_check(
        asset=imitation_policy,
        name="imitation_policy_loads",
        blocking=True,
        partitions_def=backbone_partitions,
        description="The exported policy loads without training state, its weights are finite, and a "
        "forward pass gives the six heads' logits with the right shapes.",
    )(_imitation_policy_loads)


def policy_problems(path: str | Path) -> list[str]:
    """What is wrong with an exported policy (empty when it loads, is finite and has the right shapes)."""
    try:
        policy, meta = load_policy(path)
    except Exception as exc:
        return [f"cannot load {path}: {exc}"]
    problems = [f"weight {k} is not finite" for k, v in policy.state_dict().items()
                if v.is_floating_point() and not torch.isfinite(v).all()]
    cfg = policy.config
    steps = 1 if cfg.backbone == "mlp" else 4
    floats = torch.zeros(2, steps, cfg.float_dim)
    ids = torch.zeros(2, steps, len(cfg.id_vocab_sizes), dtype=torch.long)
    labels = torch.zeros(2, steps, 13, dtype=torch.long)
    labels[..., 8:12] = 8
    with torch.no_grad():
        logits, _ = policy(floats, ids, labels)
    expected = {"buttons": 8, "main_x": 17, "main_y": 17, "c_x": 17, "c_y": 17, "shoulder": 5}
    for head, classes in expected.items():
        shape = tuple(logits[head].shape) if head in logits else None
        if shape != (2, steps, classes):
            problems.append(f"head {head}: logits shape {shape}, expected {(2, steps, classes)}")
        elif not torch.isfinite(logits[head]).all():
            problems.append(f"head {head}: non-finite logits")
    return problems


def materialize_training(cfg: TrainConfig, progress: bool = True) -> dict[str, Any]:
    """Run `cfg` as a materialization of `imitation_policy` in the $DAGSTER_HOME instance.

    Used by `exphil train` when $DAGSTER_HOME is set: the run, its metadata and its check
    then show in the Dagster UI. `--replays` is ingested first, directly. Returns a
    summary shaped like TrainResult.to_dict() (from the materialization metadata).
    """
    from dagster import DagsterInstance, materialize

    from exphil_assets.paths import resolve_data_root, resolve_models_dir

    data_root = resolve_data_root(cfg.data)
    if cfg.replays:
        from exphil_assets.replays.ingest import ingest_replays

        ingest_replays(cfg.replays, data_root, workers=cfg.workers, progress=progress)
    values = {k: v for k, v in cfg.to_dict().items() if k not in NOT_RUN_CONFIG and v is not None}
    storage = ExphilStorage(data_root=str(data_root), models_dir=str(resolve_models_dir(cfg.models_dir)))
    try:
        result = materialize(
            [imitation_policy, imitation_policy_loads],
            instance=DagsterInstance.get(),
            partition_key=cfg.resolved_backbone,
            run_config={
                "ops": {ASSET_NAME: {"config": {**values, "progress": progress}}},
                # The CLI prints its own progress, summary and errors; the events still go to the instance.
                "loggers": {"console": {"config": {"log_level": "CRITICAL"}}},
            },
            resources={"storage": storage},
        )
    except Exception as exc:
        _reraise_cause(exc)
        raise
    (event,) = result.asset_materializations_for_node(ASSET_NAME)
    meta = {k: v.value for k, v in event.metadata.items()}
    return {
        **{k: meta.get(k) for k in ("backbone", "best_val_loss", "final_val_loss", "final_train_loss",
                                    "epochs_run", "steps", "params", "stopped", "config_hash", "dataset_id",
                                    "device")},
        "head_accuracy": meta.get("head_accuracy", {}),
        "files": {k.removesuffix("_path"): str(v) for k, v in meta.items() if k.endswith("_path")},
        "dagster_run_id": result.run_id,
    }


def _reraise_cause(exc: BaseException) -> None:
    """Raise the UserError or TrainingInterrupted inside a Dagster step failure, if any."""
    from exphil_assets.training.loop import TrainingInterrupted

    seen: BaseException | None = exc
    for _ in range(20):  # a bounded walk: exception chains can loop
        if seen is None:
            return
        if isinstance(seen, UserError | TrainingInterrupted):
            raise seen
        seen = getattr(seen, "user_exception", None) or seen.__cause__ or seen.__context__


def _preset_job(name: str):
    return define_asset_job(
        f"train_{name}",
        selection=[imitation_policy],
        config=preset_run_config(name),
        tags=TORCH_RUN_TAGS,
        description=f"Train the imitation policy with the {name!r} preset (pick the backbone partition).",
    )


train_quick = _preset_job("quick")
train_standard = _preset_job("standard")
train_full = _preset_job("full")
train_mewtwo = _preset_job("mewtwo")

training_assets = [imitation_policy]
training_checks = [imitation_policy_loads]
training_jobs = [train_quick, train_standard, train_full, train_mewtwo]
