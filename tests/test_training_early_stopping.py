"""Early stopping and the strict-improvement rule shared with --save-best."""

from __future__ import annotations

from exphil_assets.training.early_stopping import EarlyStopping


def _run(losses, patience, min_delta):
    es = EarlyStopping(patience=patience, min_delta=min_delta)
    improved = []
    for epoch, loss in enumerate(losses):
        improved.append(es.update(loss, epoch))
        if es.should_stop:
            return epoch, improved, es
    return None, improved, es


def test_stops_after_patience_epochs_without_improvement():
    stop, improved, es = _run([3.0, 2.0, 1.95, 1.99, 2.5, 1.0], patience=3, min_delta=0.1)
    assert stop == 4  # epochs 2, 3, 4 fail to beat 2.0 by more than 0.1
    assert improved == [True, True, False, False, False]
    assert es.best == 2.0 and es.best_epoch == 1


def test_improvement_resets_patience():
    stop, improved, _ = _run([5.0, 4.9, 4.0, 3.95, 3.0, 2.99, 2.98], patience=2, min_delta=0.5)
    assert improved[:5] == [True, False, True, False, True]
    assert stop == 6


def test_improvement_must_be_strict():
    _, improved, _ = _run([1.0, 1.0, 0.9], patience=10, min_delta=0.1)
    assert improved == [True, False, False]  # 0.9 is exactly min_delta better: not strict
    _, improved, _ = _run([1.0, 1.0, 0.999], patience=10, min_delta=0.0)
    assert improved == [True, False, True]


def test_state_round_trips():
    es = EarlyStopping(patience=2, min_delta=0.0)
    es.update(1.0, 0)
    es.update(2.0, 1)
    again = EarlyStopping()
    again.load_state_dict(es.state_dict())
    assert again == es
    again.update(3.0, 2)
    assert again.should_stop
