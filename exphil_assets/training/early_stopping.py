"""Early stopping on the validation loss, and the "did it improve" rule of --save-best.

An epoch improves only when its loss is below the best so far by more than
`min_delta` (strictly). `patience` epochs in a row without improvement stop the run.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass


@dataclass
class EarlyStopping:
    patience: int = 5
    min_delta: float = 0.01
    best: float = math.inf
    best_epoch: int = -1
    bad_epochs: int = 0

    def update(self, loss: float, epoch: int) -> bool:
        """Record one epoch's validation loss; True when it is a (strict) improvement."""
        if loss < self.best - self.min_delta:
            self.best, self.best_epoch, self.bad_epochs = loss, epoch, 0
            return True
        self.bad_epochs += 1
        return False

    @property
    def should_stop(self) -> bool:
        return self.bad_epochs >= self.patience

    def state_dict(self) -> dict:
        return asdict(self)

    def load_state_dict(self, state: dict) -> None:
        for key, value in state.items():
            setattr(self, key, value)
