#!/usr/bin/env bash
# The Dagster CLI smoke chain: ingest a batch of shared replays, build the dataset, train
# imitation_policy[mlp] with the quick preset's run-config file, then evaluation_report[mlp],
# each with `dagster asset materialize`, in a temporary instance holding our dagster.yaml.
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED_REPLAYS=${EXPHIL_SHARED_REPLAYS:-../shared/replays}
work=$(mktemp -d)
export DAGSTER_HOME=$work/dagster_home EXPHIL_DATA=$work/data EXPHIL_MODELS=$work/models EXPHIL_REPORTS=$work/reports
mkdir -p "$DAGSTER_HOME" "$work/train" "$work/heldout"
cp dagster_home/dagster.yaml "$DAGSTER_HOME/"
start=$(date +%s)

# Six training replays and two held-out ones, by name.
for f in exphil__fox_ms_float exphil__fox_ms_frame1 peppi__v3.18 peppi__shield_drop peppi__dash_back peppi__game; do
  ln -s "$(realpath "$SHARED_REPLAYS/$f.slp")" "$work/train/$f.slp"
done
for f in peppi__cstick_udlr peppi__buttons_abxy; do
  ln -s "$(realpath "$SHARED_REPLAYS/$f.slp")" "$work/heldout/$f.slp"
done

key=$(exphil batch --replays "$work/train")
echo "batch $key"
materialize() { dagster asset materialize -m exphil_assets.definitions "$@"; }
materialize --select replay_frames --partition "$key"
materialize --select embedded_dataset
materialize --select imitation_policy --partition mlp --config exphil_assets/presets/quick.yaml
cat > "$work/eval.yaml" <<YAML
ops:
  evaluation_report:
    config:
      replays: $work/heldout
      closed_loop_games: 2
      closed_loop_frames: 600
      latency_steps: 100
YAML
materialize --select evaluation_report --partition mlp --config "$work/eval.yaml"

python - <<'PY'
from dagster import AssetKey, DagsterInstance
with DagsterInstance.get() as instance:
    for key in ("replay_frames", "embedded_dataset", "imitation_policy", "evaluation_report"):
        event = instance.get_latest_materialization_event(AssetKey(key))
        assert event is not None, f"no materialization of {key}"
        print(f"materialized {key}: run {event.run_id}")
PY
echo "dagster smoke chain: $(( $(date +%s) - start ))s"
rm -rf "$work"
