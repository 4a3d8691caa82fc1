"""Frame sources on real photos and a real video file, and the newest-frame grabber.

No camera is needed: a missing camera must fail cleanly, and the grabber is exercised with
a paced image folder standing in for a live camera.
"""

from __future__ import annotations

import logging
import shutil
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.live.camera import (
    Frame,
    FrameSource,
    ImageFolderSource,
    LatestFrameGrabber,
    VideoFileSource,
    WebcamSource,
    list_cameras,
    open_source,
)
from core.errors import CameraError, InputError
from core.vision.imaging import load_image

# Name in the test folder -> Barack Obama's photo; natural order is 1, 2, 10.
FOLDER_PHOTOS = {"10.jpg": "5.jpg", "2.jpg": "2.jpg", "1.jpg": "1.jpg"}
# Photos for the video, chosen so red and blue differ clearly (either way round).
VIDEO_PHOTOS = ["barack_obama/1.jpg", "barack_obama/4.jpg", "rose_leslie/2.jpg"]
VIDEO_SIZE = (320, 240)
VIDEO_FPS = 10.0


@pytest.fixture
def folder(tmp_path: Path, data_dir: Path) -> Path:
    target = tmp_path / "frames"
    target.mkdir()
    for name, original in FOLDER_PHOTOS.items():
        shutil.copy(data_dir / "people" / "barack_obama" / original, target / name)
    (target / "bad.jpg").write_text("a text file, not a photo\n")
    return target


@pytest.fixture(scope="module")
def video(tmp_path_factory, data_dir: Path) -> tuple[Path, list[np.ndarray]]:
    """An MJPG .avi of the video photos (each shown twice), and the RGB frames written."""
    path = tmp_path_factory.mktemp("video") / "clip.avi"
    frames = []
    for photo in VIDEO_PHOTOS:
        rgb = cv2.resize(load_image(data_dir / "people" / photo).pixels, VIDEO_SIZE, interpolation=cv2.INTER_AREA)
        frames += [rgb, rgb]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), VIDEO_FPS, VIDEO_SIZE)
    assert writer.isOpened(), "OpenCV cannot write MJPG .avi here"
    for rgb in frames:
        writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    writer.release()
    return path, frames


def read_all(source: FrameSource, limit: int = 100) -> list[Frame]:
    frames = []
    while (frame := source.read()) is not None:
        frames.append(frame)
        assert len(frames) <= limit, "the source never ended"
    return frames


def grabber_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("LatestFrameGrabber")]


# --- image folders ---------------------------------------------------------------------


def test_folder_plays_readable_images_in_natural_order(folder, caplog):
    with caplog.at_level(logging.WARNING, logger="core.live.camera"), ImageFolderSource(folder) as source:
        assert not source.is_live
        frames = read_all(source)
        assert source.read() is None
    assert [f.name for f in frames] == ["1.jpg", "2.jpg", "10.jpg"]
    assert [f.index for f in frames] == [0, 1, 2]
    for frame in frames:
        assert frame.pixels.dtype == np.uint8 and frame.pixels.shape[2] == 3
        assert np.array_equal(frame.pixels, load_image(folder / frame.name).pixels)
    assert source.skipped == 1
    assert "bad.jpg" in caplog.text


def test_folder_loops_and_counts_a_bad_file_once(folder):
    with ImageFolderSource(folder, loop=True) as source:
        frames = [source.read() for _ in range(7)]
        assert [f.name for f in frames] == ["1.jpg", "2.jpg", "10.jpg"] * 2 + ["1.jpg"]
        assert [f.index for f in frames] == list(range(7))
        assert source.skipped == 1
        assert "looping" in source.description


def test_folder_with_fps_is_live_and_paced(folder):
    fps = 40.0
    with ImageFolderSource(folder, fps=fps) as source:
        assert source.is_live and "40 fps" in source.description
        times = [f.timestamp for f in read_all(source)]
    # A lower bound only: sleep never wakes early, so frames are at least 1/fps apart.
    assert all(later - earlier >= 1 / fps - 1e-3 for earlier, later in zip(times, times[1:]))


@pytest.mark.parametrize("fps", [0, -5, float("inf")])
def test_folder_rejects_a_bad_fps(folder, fps):
    with pytest.raises(ValueError):
        ImageFolderSource(folder, fps=fps)


def test_empty_missing_or_unreadable_folders_are_camera_errors(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "bad.jpg").write_text("not a photo")
    for path, message in [(empty, "no readable images"), (junk, "no readable images"),
                          (tmp_path / "nowhere", "no such folder")]:
        with pytest.raises(CameraError, match=message) as caught:
            ImageFolderSource(path)
        assert str(path) in str(caught.value)
        assert isinstance(caught.value, InputError)


# --- video files -----------------------------------------------------------------------


def test_video_file_frames_are_rgb_in_order_with_timestamps(video):
    path, written = video
    with VideoFileSource(path) as source:
        assert not source.is_live and "320x240" in source.description
        frames = read_all(source)
        assert source.read() is None
    assert len(frames) == len(written)
    assert [f.index for f in frames] == list(range(len(written)))
    assert all(f.name is None for f in frames)
    times = [f.timestamp for f in frames]
    assert times[0] == pytest.approx(0.0, abs=1e-6)
    assert all(later > earlier for earlier, later in zip(times, times[1:]))
    assert times[-1] == pytest.approx((len(written) - 1) / VIDEO_FPS, abs=1e-3)
    for frame, rgb in zip(frames, written):
        assert frame.pixels.shape == (240, 320, 3) and frame.pixels.dtype == np.uint8
        got = frame.pixels.reshape(-1, 3).mean(axis=0)
        want = rgb.reshape(-1, 3).mean(axis=0)
        assert np.abs(got - want).max() < 3, (got, want)  # JPEG in the video costs a little
        assert np.sign(got[0] - got[2]) == np.sign(want[0] - want[2])  # red and blue not swapped


def test_missing_or_garbage_video_is_a_camera_error(tmp_path):
    garbage = tmp_path / "video.mp4"
    garbage.write_bytes(b"this is not a video\n" * 100)
    for path, message in [(garbage, "cannot be opened as a video"), (tmp_path / "gone.mp4", "no such file")]:
        with pytest.raises(CameraError, match=message) as caught:
            VideoFileSource(path)
        assert path.name in str(caught.value)


# --- cameras ---------------------------------------------------------------------------


def test_a_camera_that_is_not_there_is_a_camera_error():
    with pytest.raises(CameraError, match="camera 97 not found"):
        WebcamSource(97)


def test_list_cameras_is_quiet_and_restores_the_opencv_log_level():
    before = cv2.utils.logging.getLogLevel()
    cameras = list_cameras(max_index=1)
    assert all(isinstance(index, int) and 0 <= index <= 1 for index in cameras)
    assert cv2.utils.logging.getLogLevel() == before


def test_webcam_rejects_bad_arguments():
    with pytest.raises(ValueError):
        WebcamSource(-1)
    with pytest.raises(ValueError):
        WebcamSource(0, width=0)


# --- open_source -----------------------------------------------------------------------


def test_open_source_dispatches_on_what_was_typed(folder, video, tmp_path):
    with open_source(str(folder), fps=25) as source:
        assert isinstance(source, ImageFolderSource) and source.is_live
    with open_source(str(video[0])) as source:
        assert isinstance(source, VideoFileSource)
    with pytest.raises(CameraError, match="camera 97"):
        open_source("97")
    for spec in [str(tmp_path / "nothing here"), ""]:
        with pytest.raises(CameraError, match="neither a camera number"):
            open_source(spec)


# --- the newest-frame grabber ----------------------------------------------------------


class CountingSource(FrameSource):
    """Wraps a source; a test can wait until it has read a number of frames."""

    def __init__(self, inner: FrameSource) -> None:
        self.inner = inner
        self.description = inner.description
        self.is_live = inner.is_live
        self.reads = 0
        self.closed = False
        self._changed = threading.Condition()

    def read(self) -> Frame | None:
        frame = self.inner.read()
        with self._changed:
            self.reads += 1
            self._changed.notify_all()
        return frame

    def wait_for_reads(self, count: int) -> None:
        with self._changed:
            assert self._changed.wait_for(lambda: self.reads >= count, timeout=10)

    def close(self) -> None:
        self.inner.close()
        self.closed = True


class FailingSource(FrameSource):
    """Delivers a few small frames, then fails like an unplugged camera."""

    description = "failing test camera"
    is_live = True

    def __init__(self, frames: int, error: Exception) -> None:
        self.frames = frames
        self.error = error
        self.count = 0
        self.closed = False

    def read(self) -> Frame:
        if self.count == self.frames:
            raise self.error
        self.count += 1
        return Frame(np.zeros((4, 4, 3), np.uint8), self.count - 1, float(self.count))

    def close(self) -> None:
        self.closed = True


def test_a_slow_consumer_gets_only_the_newest_frames(folder):
    source = CountingSource(ImageFolderSource(folder, fps=200, loop=True))
    grabber = LatestFrameGrabber(source)
    grabber.start()
    taken = []
    try:
        for _ in range(5):
            frame = grabber.latest(timeout=10)
            assert frame is not None
            taken.append(frame.index)
            # Slow consumer: frames index+1 .. index+3 are read before it asks again,
            # so at least index+1 was replaced by a newer one.
            source.wait_for_reads(frame.index + 4)
    finally:
        grabber.stop()
    gaps = np.diff(taken)
    assert (gaps >= 2).all(), taken
    assert grabber.dropped >= (gaps - 1).sum() > 0
    # Every frame read was handed out, dropped, or is the one still waiting.
    assert source.reads - len(taken) - grabber.dropped in (0, 1)
    assert source.closed and not grabber_threads()


def test_the_grabber_ends_with_the_stream(folder):
    source = CountingSource(ImageFolderSource(folder))
    with LatestFrameGrabber(source) as grabber:
        frames = []
        while (frame := grabber.latest(timeout=10)) is not None:
            frames.append(frame)
        assert grabber.finished
        assert grabber.latest(timeout=0.01) is None
    assert len(frames) + grabber.dropped == 3
    assert [f.index for f in frames] == sorted(f.index for f in frames)
    assert source.closed and not grabber_threads()


@pytest.mark.parametrize(
    "error",
    [CameraError("camera 5", "camera 5 stopped delivering frames"), RuntimeError("driver crashed")],
)
def test_an_error_in_the_source_reaches_the_consumer(error):
    source = FailingSource(frames=3, error=error)
    grabber = LatestFrameGrabber(source)
    grabber.start()
    try:
        with pytest.raises(type(error)) as caught:
            for _ in range(10):
                grabber.latest(timeout=10)
        assert caught.value is error
        with pytest.raises(type(error)):  # and it stays raised
            grabber.latest(timeout=0.01)
        assert not grabber.finished
    finally:
        grabber.stop()
    assert source.closed and not grabber_threads()


def test_stop_joins_the_thread_of_an_endless_source(folder):
    source = ImageFolderSource(folder, fps=100, loop=True)
    grabber = LatestFrameGrabber(source)
    grabber.start()
    assert grabber.latest(timeout=10) is not None
    assert grabber_threads()
    grabber.stop()
    assert not grabber_threads()
    grabber.latest(timeout=10)  # at most the frame read before the stop, at once
    assert grabber.latest(timeout=10) is None  # a stopped grabber does not wait
    grabber.stop()  # a second stop is harmless


def test_latest_before_start_is_an_error(folder):
    grabber = LatestFrameGrabber(ImageFolderSource(folder))
    with pytest.raises(RuntimeError):
        grabber.latest(timeout=0.01)
    grabber.stop()
    with pytest.raises(RuntimeError):
        grabber.start()
