"""Needs a package that is not installed."""

import tensorflow_for_numpy_nets  # noqa: F401
