"""StageTimes keeps a fixed window per stage, so a day-long live loop neither grows nor slows."""

from __future__ import annotations

import time

import pytest

from core.timing import WINDOW, StageTimes


def test_measure_records_milliseconds_per_stage():
    times = StageTimes()
    with times.measure("detect"):
        time.sleep(0.02)
    with times.measure("embed"):
        pass
    medians = times.medians()
    assert set(medians) == {"detect", "embed"}
    assert 15.0 <= medians["detect"] < 1000.0  # ms, not seconds; sleep may overshoot on a busy machine
    assert 0.0 <= medians["embed"] < medians["detect"]


def test_a_failing_stage_is_still_timed():
    times = StageTimes()
    with pytest.raises(RuntimeError), times.measure("detect"):
        raise RuntimeError("the network failed")
    assert len(times.samples["detect"]) == 1


def test_stored_samples_stay_at_the_window_after_100k_measurements():
    times = StageTimes()
    for _ in range(100_000):
        with times.measure("detect"):
            pass
    assert len(times.samples["detect"]) == WINDOW
    assert 100 <= WINDOW <= 300  # steady medians, yet a change shows within seconds at 30 fps


def test_medians_reflect_only_the_latest_window():
    """A slow start (warm-up, a busy minute) falls out: the median is today's speed, not the day's."""
    times = StageTimes(window=10)
    times.samples["embed"].extend([500.0] * 1000)  # slow samples, as measure() appends them
    assert times.medians() == {"embed": 500.0}
    times.samples["embed"].extend([2.0] * 9)
    assert times.medians() == {"embed": 2.0}  # 9 fast against 1 slow left in the window
    times.samples["embed"].append(2.0)
    assert list(times.samples["embed"]) == [2.0] * 10


def test_each_stage_has_its_own_window():
    times = StageTimes(window=3)
    times.samples["detect"].extend([1.0, 2.0, 3.0, 4.0])
    times.samples["match"].append(9.0)
    assert times.medians() == {"detect": 3.0, "match": 9.0}
    assert [len(values) for values in times.samples.values()] == [3, 1]


def test_clear_forgets_every_stage():
    times = StageTimes(window=5)
    with times.measure("detect"):
        pass
    times.clear()
    assert times.medians() == {}
    with times.measure("track"):
        pass
    assert set(times.medians()) == {"track"}
    assert times.samples["track"].maxlen == 5  # a cleared store keeps its window


@pytest.mark.parametrize("window", [0, -1])
def test_window_must_hold_a_sample(window):
    with pytest.raises(ValueError, match="window"):
        StageTimes(window=window)
