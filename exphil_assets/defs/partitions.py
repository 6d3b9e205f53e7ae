"""Partition definitions shared by the assets."""

from dagster import DynamicPartitionsDefinition, StaticPartitionsDefinition

from exphil_assets.nets.registry import BACKBONES

# One partition per backbone: mlp, lstm, gru, mamba, sliding_window, hybrid.
backbone_partitions = StaticPartitionsDefinition(list(BACKBONES))

# One partition per batch of replay files that landed together (sortable keys).
replay_batch_partitions = DynamicPartitionsDefinition(name="replay_batches")
