"""Tests of sweepnet.data."""
