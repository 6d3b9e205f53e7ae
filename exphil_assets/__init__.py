"""ExPhil: train Melee agents from Slippi replays (imitation, PPO, evaluation)."""

__version__ = "0.1.0"
