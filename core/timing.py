"""Per-stage wall-clock timings, so every run can say where its milliseconds went."""

from __future__ import annotations

import statistics
import time
from collections import defaultdict, deque
from contextlib import contextmanager

# How many of the latest durations each stage keeps. The live loop times every frame for a
# working day; keeping every sample made memory grow without end and the per-frame
# ``medians()`` (one sort per stage) slower and slower: for the five live stages 0.6 ms after
# one minute at 30 fps, 16 ms after fifteen, 65 ms after 100,000 frames. 240 samples are 8 s
# of per-frame stages at 30 fps: enough for a steady median, short enough that the status
# bar shows a change (more faces, another provider) within seconds; ``medians()`` then costs
# 0.03 ms whatever the running time (2-core CPU, random durations).
WINDOW = 240


class StageTimes:
    """The latest ``window`` durations (ms) per named stage; ``medians()`` summarises them.

    ``samples`` maps each stage to a ``deque`` of at most ``window`` durations, oldest first,
    so memory and the cost of ``medians()`` stay the same however long the loop runs.
    """

    def __init__(self, window: int = WINDOW) -> None:
        if window < 1:
            raise ValueError(f"window must be 1 or more, got {window}")
        self.window = window
        self.samples: dict[str, deque[float]] = defaultdict(lambda: deque(maxlen=self.window))

    @contextmanager
    def measure(self, stage: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.samples[stage].append((time.perf_counter() - start) * 1000.0)

    def medians(self) -> dict[str, float]:
        """Median ms of each stage over its window (the latest ``window`` measurements)."""
        return {stage: statistics.median(values) for stage, values in self.samples.items() if values}

    def clear(self) -> None:
        self.samples.clear()


FPS_SMOOTHING = 0.1  # weight of the newest frame in the frames/s running estimate


class RateMeter:
    """Frames per second as a running estimate: constant memory however long it runs."""

    def __init__(self, weight: float = FPS_SMOOTHING) -> None:
        self.weight = weight
        self.reset()

    def reset(self) -> None:
        self.rate = 0.0
        self._last: float | None = None

    def tick(self, now: float | None = None) -> float:
        now = time.perf_counter() if now is None else now
        if self._last is not None:
            instant = 1.0 / max(now - self._last, 1e-6)
            self.rate = instant if self.rate == 0.0 else (1 - self.weight) * self.rate + self.weight * instant
        self._last = now
        return self.rate
