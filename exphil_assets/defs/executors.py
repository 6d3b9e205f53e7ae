"""Executor by environment: in-process for local and CI runs, multiprocess where asked.

`EXPHIL_EXECUTOR=multiprocess` with `EXPHIL_MAX_CONCURRENT=N` (default 2) runs each
asset step in its own process, at most N at once; training steps are CPU-heavy, so
N should not exceed the cores available divided by the torch threads per step.

Jobs whose runs train or play with torch carry `TORCH_RUN_TAGS`; the committed
dagster.yaml lets one such run go at a time.
"""

from __future__ import annotations

import os

from dagster import ExecutorDefinition, in_process_executor, multiprocess_executor

# Matched by the tag_concurrency_limits of dagster_home/dagster.yaml.
TORCH_RUN_TAGS = {"exphil/compute": "torch"}


def executor_from_env() -> ExecutorDefinition:
    kind = os.environ.get("EXPHIL_EXECUTOR", "in_process")
    if kind == "in_process":
        return in_process_executor
    if kind == "multiprocess":
        max_concurrent = int(os.environ.get("EXPHIL_MAX_CONCURRENT", "2"))
        if max_concurrent < 1:
            raise ValueError(f"EXPHIL_MAX_CONCURRENT must be >= 1, got {max_concurrent}")
        return multiprocess_executor.configured({"max_concurrent": max_concurrent})
    raise ValueError(f"EXPHIL_EXECUTOR must be 'in_process' or 'multiprocess', got {kind!r}")
