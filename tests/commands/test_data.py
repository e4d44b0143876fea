"""``sweepnet data list`` and ``sweepnet data download``."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import http.server
import io
import tarfile
import threading

import numpy as np
import pytest

from sweepnet.cli import main
from sweepnet.core.data_utils import save_CIFAR_batch
from sweepnet.data import download as dl


@pytest.fixture(autouse=True)
def _no_entry_point_plugins(monkeypatch):
    monkeypatch.setenv("SWEEPNET_DISABLE_PLUGIN_AUTOLOAD", "1")


def _write_cifar(root):
    root.mkdir(parents=True)
    data = np.random.default_rng(0).integers(0, 256, (4, 3072), dtype=np.uint8)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        save_CIFAR_batch(root / name, data, [0, 1, 2, 3])


@pytest.fixture
def mirror(tmp_path, monkeypatch):
    """Base URL of a 127.0.0.1 server offering a small cifar-10-python.tar.gz, checksum published."""
    served = tmp_path / "served"
    _write_cifar(tmp_path / "src")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(tmp_path / "src", arcname="cifar-10-batches-py")
    served.mkdir()
    (served / "cifar-10-python.tar.gz").write_bytes(buffer.getvalue())
    source = dl.SOURCES["cifar10"]
    remote = dataclasses.replace(source.files[0], md5=hashlib.md5(buffer.getvalue()).hexdigest())
    monkeypatch.setitem(dl.SOURCES, "cifar10", dataclasses.replace(source, files=(remote,)))

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(served)))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def test_list_shows_every_data_set_and_whether_it_is_present(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    _write_cifar(tmp_path / "cifar-10-batches-py")
    assert main(["data", "list", "--data-dir", str(tmp_path)]) == 0
    lines = {line.split()[1]: line for line in capsys.readouterr().out.splitlines() if line.startswith("│")}
    assert set(lines) >= {"digits", "diabetes", "synthetic", "cifar10", "mnist", "california_housing"}
    assert "present" in lines["cifar10"] and str(tmp_path / "cifar-10-batches-py") in lines["cifar10"]
    assert "missing" in lines["mnist"] and f"sweepnet data download mnist --data-dir {tmp_path}" in lines["mnist"]
    assert "ready" in lines["digits"]


def test_download_prints_where_it_put_the_files(tmp_path, capsys, mirror):
    assert main(["data", "download", "cifar10", "--data-dir", str(tmp_path / "home"), "--mirror", mirror]) == 0
    assert capsys.readouterr().out.strip() == f"cifar10: downloaded to {tmp_path / 'home' / 'cifar-10-batches-py'}"
    assert dl.missing_file("cifar10", tmp_path / "home") is None
    assert main(["data", "download", "cifar10", "--data-dir", str(tmp_path / "home")]) == 0
    assert "already present" in capsys.readouterr().out


def test_download_reads_the_data_home_and_mirror_from_the_environment(tmp_path, capsys, mirror, monkeypatch):
    monkeypatch.setenv("SWEEPNET_DATA", str(tmp_path / "env-home"))
    monkeypatch.setenv("SWEEPNET_DATA_MIRROR", mirror)
    assert main(["data", "download", "cifar10"]) == 0
    assert (tmp_path / "env-home" / "cifar-10-batches-py" / "test_batch").is_file()


def test_failed_download_is_a_one_line_error_with_status_2(tmp_path, capsys, mirror):
    status = main(["data", "download", "mnist", "--data-dir", str(tmp_path / "home"), "--mirror", mirror])
    err = capsys.readouterr().err
    assert status == 2
    assert err.startswith("sweepnet: error: cannot download http://127.0.0.1:") and "HTTP 404" in err
    assert err.count("\n") == 1
    assert list((tmp_path / "home").iterdir()) == []


def test_unknown_data_set_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["data", "download", "imagenet"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'imagenet'" in capsys.readouterr().err
