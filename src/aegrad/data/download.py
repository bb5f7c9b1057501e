"""Fetch files over HTTP(S) with MD5 verification and atomic writes.

Each file is streamed into a temporary file in the destination folder, hashed
while it streams, and renamed into place only when the checksum matches, so an
interrupted or corrupted download never leaves a file that looks complete.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from aegrad.errors import UserError

TIMEOUT_S = 30.0  # per connection attempt and per read; no network fails fast on DNS anyway
_CHUNK = 1 << 20


def md5_file(path: str | Path) -> str:
    """Hex MD5 of a file, read in chunks."""
    digest = hashlib.md5()  # MD5: what the datasets publish; an integrity check, not security
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


class DownloadError(UserError):
    """A download failed (network, HTTP status or checksum); the message is one line."""


def fetch(url: str, dest: Path, md5: str | None) -> Path:
    """Download `url` to `dest` atomically, verifying `md5` (hex) when given; returns `dest`."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        digest = hashlib.md5()
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
            for block in iter(lambda: response.read(_CHUNK), b""):
                digest.update(block)
                out.write(block)
        got = digest.hexdigest()
        if md5 is not None and got != md5.lower():
            raise DownloadError(f"checksum mismatch for {url}: MD5 {got}, expected {md5} (bad mirror or cut download)")
        os.replace(tmp, dest)
        return dest
    except DownloadError:
        raise
    except urllib.error.HTTPError as err:
        raise DownloadError(f"download of {url} failed: HTTP {err.code} {err.reason}") from None
    except urllib.error.URLError as err:
        raise DownloadError(f"download of {url} failed: {err.reason}") from None
    except (OSError, ValueError) as err:  # timeouts, resets, refused connections, bad URLs
        raise DownloadError(f"download of {url} failed: {err}") from None
    finally:
        tmp.unlink(missing_ok=True)


def fetch_all(base_url: str, files: dict[str, str], folder: Path) -> list[Path]:
    """Fetch every `name -> md5` of `files` from `base_url` into `folder`, skipping verified files there."""
    out = []
    for name, md5 in files.items():
        dest = folder / name
        if not (dest.is_file() and md5_file(dest) == md5):
            fetch(f"{base_url.rstrip('/')}/{name}", dest, md5)
        out.append(dest)
    return out
