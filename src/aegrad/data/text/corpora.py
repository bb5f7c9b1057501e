"""Where text comes from: the user's UTF-8 files, and two corpora Debian installs.

* ``fortunes`` (Debian package ``fortunes``): /usr/share/games/fortunes, one file per
  category, quotes separated by lines holding ``%``; a quote's lines are joined with
  single spaces. The category is the label.
* ``wamerican`` (Debian package ``wamerican``): /usr/share/dict/american-english, one
  English word per line.
* ``file``: ``data.path``, a UTF-8 file or a folder of files (every file below it,
  sorted), one sample per non-blank line. Invalid UTF-8 follows ``data.text.errors``:
  ``strict`` stops with the file and line, ``replace`` writes U+FFFD, ``skip`` leaves the
  line out; replaced and skipped lines are counted and logged, never silent.

Each reader returns ``Corpus`` (lines, optional labels and their names, counts of what was
replaced or left out); a missing package is one UserError naming it.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

from aegrad.config import DataConfig
from aegrad.errors import UserError

log = logging.getLogger("aegrad")

FORTUNES_DIR = Path("/usr/share/games/fortunes")
WORDS_FILE = Path("/usr/share/dict/american-english")
_SPACES = re.compile(r"\s+")


@dataclass
class Corpus:
    lines: list[str]
    labels: list[int] | None = None  # per line, an index into `classes`
    classes: list[str] | None = None
    counts: dict[str, int] = field(default_factory=dict)  # what was replaced / left out, by reason


def _missing(path: Path, package: str) -> UserError:
    return UserError(f"corpus {package} not found at {path}: install the Debian package {package!r} "
                     f"(apt-get install {package}) or use data.text.corpus=file with data.path")


def fortune_categories(folder: Path = FORTUNES_DIR) -> list[str]:
    """The category files of a fortunes folder (no .dat / .u8 index files), sorted."""
    if not folder.is_dir():
        raise _missing(folder, "fortunes")
    return sorted(p.name for p in folder.iterdir() if p.is_file() and "." not in p.name)


def read_fortunes(categories: list[str] | None, folder: Path = FORTUNES_DIR) -> Corpus:
    """Quotes of the chosen categories (all when None), whitespace collapsed; label = position in `categories`."""
    known = fortune_categories(folder)
    chosen = known if categories is None else list(categories)
    unknown = [c for c in chosen if c not in known]
    if unknown:
        raise UserError(f"unknown fortunes categories {unknown}; valid: {', '.join(known)}")
    lines, labels = [], []
    for k, name in enumerate(chosen):
        text = (folder / name).read_bytes().decode("utf-8", errors="replace")
        for quote in re.split(r"^%\s*$", text, flags=re.MULTILINE):
            quote = _SPACES.sub(" ", quote).strip()
            if quote:
                lines.append(quote)
                labels.append(k)
    return Corpus(lines, labels, chosen)


def read_words(path: Path = WORDS_FILE) -> Corpus:
    """The word list, one word per line."""
    if not path.is_file():
        raise _missing(path, "wamerican")
    return Corpus([w for w in path.read_text(encoding="utf-8").split("\n") if w.strip()])


def _decode_lines(path: Path, errors: str, counts: dict[str, int]) -> list[str]:
    out = []
    for n, raw in enumerate(path.read_bytes().split(b"\n"), 1):
        raw = raw.rstrip(b"\r")
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            if errors == "strict":
                raise UserError(f"{path}:{n} is not UTF-8 ({err.reason} at byte {err.start}); "
                                "set data.text.errors=replace or skip to read it anyway") from None
            counts[f"invalid_utf8_{'replaced' if errors == 'replace' else 'skipped'}"] = (
                counts.get(f"invalid_utf8_{'replaced' if errors == 'replace' else 'skipped'}", 0) + 1)
            if errors == "skip":
                continue
            line = raw.decode("utf-8", errors="replace")
        if line.strip():
            out.append(line)
    return out


def read_files(path: Path, errors: str) -> Corpus:
    """Non-blank lines of a file, or of every file below a folder (sorted paths)."""
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file())
        if not files:
            raise UserError(f"no files in text folder {path}")
    elif path.is_file():
        files = [path]
    else:
        raise UserError(f"text file not found: {path}")
    counts: dict[str, int] = {}
    lines = [line for f in files for line in _decode_lines(f, errors, counts)]
    return Corpus(lines, counts=counts)


def read_corpus(cfg: DataConfig) -> Corpus:
    """The corpus `cfg.text.corpus` names, lines cut or left out per data.max_len / min_len (counted, logged)."""
    t = cfg.text
    if t.corpus == "fortunes":
        corpus = read_fortunes(t.categories, Path(cfg.path).expanduser() if cfg.path else FORTUNES_DIR)
    elif t.corpus == "wamerican":
        corpus = read_words(Path(cfg.path).expanduser() if cfg.path else WORDS_FILE)
    else:
        if cfg.path is None:
            raise UserError("data.text.corpus=file needs data.path (a UTF-8 text file or folder)")
        corpus = read_files(Path(cfg.path).expanduser(), t.errors)
    if t.categories is not None and t.corpus != "fortunes":
        raise UserError("data.text.categories applies to data.text.corpus=fortunes only")
    keep, lines, labels = [], [], []
    too_long = too_short = 0
    for i, line in enumerate(corpus.lines):
        if len(line) > cfg.max_len:
            if t.long_lines == "drop":
                too_long += 1
                continue
            line = line[: cfg.max_len]
        if len(line) < t.min_len:
            too_short += 1
            continue
        keep.append(i)
        lines.append(line)
    if corpus.labels is not None:
        labels = [corpus.labels[i] for i in keep]
    counts = dict(corpus.counts)
    if too_long:
        counts["longer_than_max_len_dropped"] = too_long
    if too_short:
        counts["shorter_than_min_len_dropped"] = too_short
    for reason, n in counts.items():
        if reason.startswith("invalid_utf8"):
            log.warning("data.text.errors=%s: %d line(s) with invalid UTF-8 %s", t.errors, n, reason.rsplit("_", 1)[1])
        else:
            log.info("data.source=text: %d line(s) %s", n, reason.replace("_", " "))
    return Corpus(lines, labels if corpus.labels is not None else None, corpus.classes, counts)
