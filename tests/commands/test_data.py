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
from sweepnet.pluginmanager import get_plugin_manager, get_registries
from sweepnet.plugins.datasets import Cifar10


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
    source = Cifar10.source
    checksum = "md5:" + hashlib.md5(buffer.getvalue()).hexdigest()
    remote = dataclasses.replace(source.files[0], checksum=checksum, size=len(buffer.getvalue()))
    monkeypatch.setattr(Cifar10, "source", dataclasses.replace(source, files=(remote,)))

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
    assert dl.missing_file(Cifar10.source, tmp_path / "home") is None
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


def test_an_unknown_or_bundled_data_set_is_a_one_line_error(capsys):
    for name in ("imagenet", "digits"):
        assert main(["data", "download", name]) == 2
        err = capsys.readouterr().err
        assert err == (
            f"sweepnet: error: cannot download {name!r}: the data sets that are downloaded are "
            "california_housing, cifar10, mnist\n"
        )


SPIRAL_PLUGIN = """
    import numpy as np

    from sweepnet.plugin import Dataset, DatasetMeta, DatasetPlugin, DownloadSource, RemoteFile, hookimpl, require

    class Rings(DatasetPlugin):
        "Two rings, from a third-party mirror."

        source = DownloadSource(
            folder="rings",
            base_url="{url}/",
            files=(RemoteFile("rings.csv", "{checksum}", size={size}),),
            required=("rings.csv",),
        )

        def load(self, options, *, data_home):
            table = np.loadtxt(require("rings", self.source, data_home) / "rings.csv", delimiter=",", ndmin=2)
            X, y = table[:, :2].astype(np.float32), table[:, 2].astype(np.int64)
            return Dataset(DatasetMeta("rings", "classification", (2,), num_classes=2), X, y, X, y, X, y)

    @hookimpl
    def sweepnet_register_datasets(registry):
        registry.add("rings", Rings)
"""


def test_a_third_party_data_set_downloads_through_the_same_safe_path(tmp_path, capsys, monkeypatch, installed_plugin):
    import http.server as hs

    served = tmp_path / "served"
    served.mkdir()
    csv = b"0,1,0\n1,0,1\n0.5,0.5,0\n"
    (served / "rings.csv").write_bytes(csv)
    handler = functools.partial(hs.SimpleHTTPRequestHandler, directory=str(served))
    httpd = hs.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}"
        checksum = "sha256:" + hashlib.sha256(csv).hexdigest()
        installed_plugin("sweepnet-rings", SPIRAL_PLUGIN.format(url=url, checksum=checksum, size=len(csv)))
        monkeypatch.setenv("SWEEPNET_DISABLE_PLUGIN_AUTOLOAD", "0")
        get_plugin_manager.cache_clear()
        get_registries.cache_clear()
        home = tmp_path / "home"
        assert main(["data", "list", "--data-dir", str(home)]) == 0
        assert "sweepnet data download rings" in capsys.readouterr().out
        assert main(["data", "download", "rings", "--data-dir", str(home)]) == 0
        assert capsys.readouterr().out.strip() == f"rings: downloaded to {home / 'rings'}"
        assert (home / "rings" / "rings.csv").read_bytes() == csv
        (served / "rings.csv").write_bytes(csv + b"1,1,1\n")  # the mirror now serves something else
        assert main(["data", "download", "rings", "--data-dir", str(home), "--force"]) == 2
        assert "checksum mismatch" in capsys.readouterr().err
        assert (home / "rings" / "rings.csv").read_bytes() == csv  # the good copy stays
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()
        get_plugin_manager.cache_clear()
        get_registries.cache_clear()
