"""Tests of sweepnet.search: spaces, searchers and pruners."""
