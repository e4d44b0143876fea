"""Entries ``(TrialSpec, TrialResult)`` made up for the figure tests."""

from __future__ import annotations

import numpy as np

from sweepnet.records import TrialResult, TrialSpec, TrialState


def entry(number, params, state=TrialState.COMPLETED, history=(), iteration_loss=None, **metrics):
    """Trial ``number`` with ``params`` that ended in ``state`` with final ``metrics``."""
    spec = TrialSpec(f"{number:040x}", number, params, {}, seed=number)
    return spec, TrialResult(spec.trial_id, state, metrics, list(history), iteration_loss=iteration_loss)


def history(epochs, scale=1.0):
    """Per-epoch rows: the loss falls as ``scale / epoch``, the accuracies rise."""
    return [
        {"epoch": e, "loss": scale / e, "train_acc": 1 - 0.5 / e, "val_acc": 0.9 - 0.5 / e, "lr": 1e-3}
        for e in range(1, epochs + 1)
    ]


def curve(iterations, start=2.3):
    """A ``(K, 2)`` per-iteration loss as ``TrialResult.iteration_loss`` holds it."""
    steps = np.arange(1, iterations + 1)
    return np.column_stack([steps, start / np.sqrt(steps)]).astype(np.float32)


def sweep_config(**sections):
    """A sweep config as ``SweepInfo.config`` holds it: ``model`` / ``solver`` with their spaces."""
    return {"name": "test", "seed": 0, "data": {"name": "digits"}, **sections}


def legend_texts(legend):
    return [text.get_text() for text in legend.get_texts()]


def tick_texts(labels):
    return [label.get_text() for label in labels]
