"""An update rule that climbs instead of descending."""

from sweepnet.plugin import PluginOptions, hookimpl


class AscentOptions(PluginOptions):
    learning_rate: float = 1e-2


def ascent(w, dw, config=None):
    config = {} if config is None else config
    config.setdefault("learning_rate", 1e-2)
    return w + config["learning_rate"] * dw, config


@hookimpl
def sweepnet_register_optimizers(registry):
    registry.add("ascent", ascent, options=AscentOptions)
