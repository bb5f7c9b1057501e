"""The one exception type for bad user input, and the exit statuses of the command line.

The CLI prints a UserError's message on one line and exits 2 (``EXIT_BAD_INPUT``).
The statuses are documented in the README's Reliability section; scripts may rely on them.
"""

from __future__ import annotations

EXIT_OK = 0  # success (early stopping included: the run did what it was asked)
EXIT_BAD_INPUT = 2  # bad input (config, data, files, paths, a damaged or busy run folder): one line on stderr
EXIT_STOPPED = 3  # the run trained, but the NaN guard stopped it (non-finite loss after every rollback)
EXIT_TRIALS_FAILED = 4  # a study finished, but at least one of its trials failed
EXIT_INTERRUPTED = 130  # Ctrl-C (SIGINT), as shells report it

EXCERPT_CHARS = 80  # the most of a user's input an error message quotes


class UserError(ValueError):
    """Bad input from the user (config, data, files): the message says what was wrong and what is valid."""


def excerpt(text: object, limit: int = EXCERPT_CHARS) -> str:
    """`text` on one line, cut to `limit` characters (error messages quote at most this much input)."""
    s = " ".join(str(text).split())
    return s if len(s) <= limit else s[: limit - 3] + "..."


def os_error_message(err: OSError) -> str:
    """A file-system error as one line: the path(s) and the reason (``[Errno 36] File name too long`` -> the reason)."""
    reason = err.strerror or excerpt(err) or type(err).__name__
    paths = [str(p) for p in (err.filename, err.filename2) if p is not None]
    where = " -> ".join(excerpt(p, 200) for p in paths)
    return f"{where}: {reason}" if where else reason
