"""A plain-text progress bar for study runs (no dependency, written to a stream)."""

from __future__ import annotations

import time
from typing import TextIO

from .status import STATUS_OK

__all__ = ["ProgressBar"]


class ProgressBar:
    """Counts finished tasks and failed replicates; redraws in place on a terminal.

    On a non-terminal stream (a log file, CI) it writes one line per tenth of the work.
    """

    def __init__(self, stream: TextIO | None, total: int, *, width: int = 30):
        self.stream = stream
        self.total = total
        self.width = width
        self.done = 0
        self.failed = 0
        self._start = time.monotonic()
        self._tty = bool(stream is not None and getattr(stream, "isatty", lambda: False)())
        self._last_tenth = -1

    def note(self, text: str) -> None:
        """Write one line (e.g. the dashboard address) above the bar."""
        if self.stream is not None:
            self.stream.write(("\r" if self._tty else "") + text + "\n")
            self.stream.flush()

    def update(self, statuses) -> None:
        """Count one finished task with its replicates' status codes."""
        self.done += 1
        self.failed += sum(1 for code in statuses if code != STATUS_OK)
        if self.stream is None:
            return
        tenth = (10 * self.done) // max(self.total, 1)
        if self._tty or tenth != self._last_tenth or self.done == self.total:
            self._last_tenth = tenth
            self.stream.write(
                ("\r" if self._tty else "") + self.line() + ("" if self._tty else "\n")
            )
            self.stream.flush()

    def line(self) -> str:
        fraction = self.done / self.total if self.total else 1.0
        filled = round(fraction * self.width)
        elapsed = time.monotonic() - self._start
        bar = "#" * filled + "-" * (self.width - filled)
        text = f"[{bar}] {self.done}/{self.total} tasks  {elapsed:6.1f} s"
        if self.failed:
            text += f"  {self.failed} replicate(s) not ok"
        return text

    def close(self) -> None:
        if self.stream is not None and self._tty:
            self.stream.write("\n")
            self.stream.flush()
