"""Per-stage wall-clock timings, so every run can say where its milliseconds went."""

from __future__ import annotations

import statistics
import time
from collections import defaultdict
from contextlib import contextmanager


class StageTimes:
    """Collects durations (ms) per named stage; ``medians()`` summarises them."""

    def __init__(self) -> None:
        self.samples: dict[str, list[float]] = defaultdict(list)

    @contextmanager
    def measure(self, stage: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.samples[stage].append((time.perf_counter() - start) * 1000.0)

    def medians(self) -> dict[str, float]:
        return {stage: statistics.median(values) for stage, values in self.samples.items() if values}

    def clear(self) -> None:
        self.samples.clear()
