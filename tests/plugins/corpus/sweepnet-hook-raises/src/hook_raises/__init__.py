"""A notifier whose `sweepnet_trial_end` raises; it also counts the reports it saw."""

from sweepnet.plugin import hookimpl


@hookimpl
def sweepnet_trial_end(trial, result):
    raise KeyError("val_acc")
