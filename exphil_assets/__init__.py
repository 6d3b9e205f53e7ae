"""ExPhil: train Melee agents from Slippi replays (imitation, PPO, evaluation)."""

# OpenMP's wait policy is left to torch's default (threads spin briefly between
# parallel regions). Forcing OMP_WAIT_POLICY=PASSIVE halved training speed on an idle
# machine; it only pays when several torch processes share the cores, which the Dagster
# queue prevents (dagster_home/dagster.yaml). README "Scaling out" has the figures.

__version__ = "0.1.0"
