"""Imitation training: `exphil train` and the `imitation_policy` asset share this core.

config.py (TrainConfig, resolve_config) and presets.py; data.py (dataset -> in-memory
splits) and batches.py (order, gather); loss.py, metrics.py; schedules.py, ema.py,
early_stopping.py, augment.py; checkpoints.py (files, export, load_policy);
distributed.py (torchrun/DDP); loop.py (train); run.py (ingest, then train).
"""
