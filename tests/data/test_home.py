"""The data home: data.data_dir, else $SWEEPNET_DATA, else ~/.sweepnet/data."""

from __future__ import annotations

from pathlib import Path

from sweepnet.data import resolve_data_home


def test_explicit_directory_wins(monkeypatch, tmp_path):
    monkeypatch.setenv("SWEEPNET_DATA", str(tmp_path / "env"))
    assert resolve_data_home(tmp_path / "mine") == tmp_path / "mine"


def test_environment_variable_is_next(monkeypatch, tmp_path):
    monkeypatch.setenv("SWEEPNET_DATA", str(tmp_path / "env"))
    assert resolve_data_home() == tmp_path / "env"


def test_default_is_under_the_home_directory(monkeypatch, tmp_path):
    monkeypatch.delenv("SWEEPNET_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert resolve_data_home() == tmp_path / ".sweepnet" / "data"
    assert resolve_data_home("~/elsewhere") == tmp_path / "elsewhere"
    assert isinstance(resolve_data_home(), Path)
