"""Tests of sweepnet.plots."""
