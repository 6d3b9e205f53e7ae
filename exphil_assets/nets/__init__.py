"""Policy networks: state encoder, backbones (mlp, lstm, gru, mamba, sliding_window, hybrid), autoregressive heads."""

from exphil_assets.nets.heads import HEAD_NAMES, ControllerHeads, action_entropy, action_log_prob
from exphil_assets.nets.policy import Policy, PolicyConfig
from exphil_assets.nets.registry import BACKBONES, TEMPORAL_BACKBONES, build_backbone

__all__ = [
    "BACKBONES",
    "HEAD_NAMES",
    "TEMPORAL_BACKBONES",
    "ControllerHeads",
    "Policy",
    "PolicyConfig",
    "action_entropy",
    "action_log_prob",
    "build_backbone",
]
