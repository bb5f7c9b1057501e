"""aegrad's benchmark harness: side-by-side speed and quality against its peers.

``python -m benchmarks`` (``make bench``) runs the reference task RT1 and writes
bench.json; ``python -m benchmarks --render bench.json`` prints its Markdown
tables again. See benchmarks/README.md.
"""

from __future__ import annotations

from pathlib import Path


def out_problem(out: str | Path) -> str | None:
    """Why results cannot be written to `out`, checked before a run of minutes starts; None when they can."""
    path = Path(out)
    if path.is_dir():
        return f"{path} is a folder; give a file path such as {path / 'results.json'}"
    if not path.parent.is_dir():
        return f"the folder {path.parent} does not exist; create it or give another path"
    return None
