"""How far a batch has come, told to whoever asked (the CLI draws a bar from it; nobody else listens).

A callback `progress(stage, done, total)`: `stage` is "checking" (records read and validated) then
"writing" (rows deleted, updated and inserted); `done` counts up to `total` within a stage.
"""
from __future__ import annotations

from typing import Callable, Optional

__all__ = ["ProgressCallback", "ProgressTracker"]

ProgressCallback = Callable[[str, int, int], None]


class ProgressTracker:
    """Counts within the current stage and tells the callback, if there is one."""

    def __init__(self, callback: Optional[ProgressCallback]):
        self.callback = callback
        self.name, self.done, self.total = "", 0, 0

    def stage(self, name: str, total: int) -> None:
        self.name, self.done, self.total = name, 0, total
        if self.callback is not None:
            self.callback(name, 0, total)

    def advance(self, count: int = 1) -> None:
        self.done += count
        if self.callback is not None and count:
            self.callback(self.name, self.done, self.total)
