"""ExPhil: train Melee agents from Slippi replays (imitation, PPO, evaluation)."""

import os

# OpenMP threads that spin while waiting make torch 10x slower when the cores are shared
# (a laptop doing other work, two DDP ranks, parallel test runs). Sleeping waiters cost
# nothing measurable on an idle machine. It must be set before torch is imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
