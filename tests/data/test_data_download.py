"""Downloads against a local http.server on 127.0.0.1: success, checksum mismatch, no server."""

import functools
import hashlib
import http.server
import socket
import threading

import numpy as np
import pytest

from aegrad.config import DataConfig
from aegrad.data import builtin, download, load_dataset, write_idx
from aegrad.errors import UserError

STEMS = list(builtin.IDX_FILES.values())


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass


@pytest.fixture
def mirror(tmp_path, monkeypatch):
    """Serve four small IDX .gz files; returns (base_url, {name: md5}); HOME and AEGRAD_DATA point into tmp."""
    served = tmp_path / "served"
    served.mkdir()
    rng = np.random.default_rng(0)
    write_idx(served / "train-images-idx3-ubyte.gz", rng.integers(0, 256, (20, 7, 7), dtype=np.uint8))
    write_idx(served / "train-labels-idx1-ubyte.gz", np.arange(20, dtype=np.uint8) % 10)
    write_idx(served / "t10k-images-idx3-ubyte.gz", rng.integers(0, 256, (5, 7, 7), dtype=np.uint8))
    write_idx(served / "t10k-labels-idx1-ubyte.gz", np.arange(5, dtype=np.uint8))
    md5 = {f"{s}.gz": hashlib.md5((served / f"{s}.gz").read_bytes()).hexdigest() for s in STEMS}

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(served)))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("AEGRAD_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("AEGRAD_MIRROR", f"http://127.0.0.1:{server.server_address[1]}/")
    monkeypatch.setattr(download, "TIMEOUT_S", 5.0)
    yield f"http://127.0.0.1:{server.server_address[1]}", md5
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def _with_md5(monkeypatch, md5):
    monkeypatch.setattr(builtin, "MNIST", builtin.IdxDataset(name="mnist", url="http://unused.invalid/", md5=md5))


def test_download_success_is_verified_and_cached(mirror, monkeypatch, tmp_path):
    _, md5 = mirror
    _with_md5(monkeypatch, md5)
    ds = load_dataset(DataConfig(source="mnist", normalize="none"), seed=0)
    assert ds.train_x.shape == (20, 1, 7, 7) and ds.test_x.shape == (5, 1, 7, 7)
    assert ds.train_y.tolist() == [i % 10 for i in range(20)]
    target = tmp_path / "data" / "mnist"
    assert sorted(p.name for p in target.iterdir()) == sorted(md5)  # no temp files left behind
    # The second load reads the cache: it works with the mirror pointing nowhere.
    monkeypatch.setenv("AEGRAD_MIRROR", "http://127.0.0.1:9/")
    again = load_dataset(DataConfig(source="mnist", normalize="none"), seed=0)
    assert (again.train_x == ds.train_x).all()


def test_checksum_mismatch_is_user_error_and_leaves_nothing(mirror, monkeypatch, tmp_path):
    _, md5 = mirror
    bad = dict(md5, **{"t10k-images-idx3-ubyte.gz": "0" * 32})
    _with_md5(monkeypatch, bad)
    with pytest.raises(UserError, match=r"checksum mismatch .*t10k-images") as info:
        load_dataset(DataConfig(source="mnist"), seed=0)
    assert "\n" not in str(info.value)
    target = tmp_path / "data" / "mnist"
    assert "t10k-images-idx3-ubyte.gz" not in {p.name for p in target.iterdir()}
    assert not [p for p in target.iterdir() if p.name.endswith(".part")]


def test_no_server_is_one_line_user_error(mirror, monkeypatch, tmp_path):
    _, md5 = mirror
    _with_md5(monkeypatch, md5)
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("AEGRAD_MIRROR", f"http://127.0.0.1:{port}/")
    with pytest.raises(UserError) as info:
        load_dataset(DataConfig(source="mnist"), seed=0)
    msg = str(info.value)
    assert "\n" not in msg and "download of" in msg and "failed" in msg
    assert str(tmp_path / "data" / "mnist") in msg and "AEGRAD_DATA" in msg  # where it looked, how to fix


def test_fashion_hint_names_the_debian_package(monkeypatch, tmp_path):
    # Without the Debian folder (hidden here), the message says how to get the files.
    spec = builtin.IdxDataset(
        name="fashion-mnist", url="http://x/", md5={}, system_dirs=(), install_hint=builtin.FASHION_MNIST.install_hint
    )
    monkeypatch.setattr(builtin, "FASHION_MNIST", spec)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("AEGRAD_DATA", raising=False)
    with pytest.raises(UserError, match="apt-get install dataset-fashion-mnist"):
        load_dataset(DataConfig(source="fashion-mnist", download=False), seed=0)


def test_fetch_all_skips_verified_files(mirror, tmp_path):
    base, md5 = mirror
    folder = tmp_path / "direct"
    paths = download.fetch_all(base, md5, folder)
    assert [download.md5_file(p) for p in paths] == list(md5.values())
    stamp = {p: p.stat().st_mtime_ns for p in paths}
    download.fetch_all("http://127.0.0.1:9/", md5, folder)  # nothing to fetch: no network needed
    assert {p: p.stat().st_mtime_ns for p in paths} == stamp
    with pytest.raises(download.DownloadError, match="HTTP 404"):
        download.fetch(f"{base}/missing.gz", folder / "missing.gz", None)
    assert not (folder / "missing.gz").exists()
