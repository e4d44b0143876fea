"""The command modules of ``sweepnet``; each exposes ``register(subparsers)``."""
