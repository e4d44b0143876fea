"""Tests of the built-in plugins (sweepnet.plugins) and of the example plugin packages."""
