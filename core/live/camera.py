"""Frame sources behind one small interface: webcams, network cameras, video files and image folders.

Every source hands out RGB ``Frame`` objects one ``read()`` at a time, so the live view does
not care where frames come from. ``LatestFrameGrabber`` reads a live source on its own thread
and keeps only the newest frame: a slow consumer sees the present, never a growing backlog.
"""

from __future__ import annotations

import base64
import http.client
import logging
import os
import re
import threading
import urllib.parse
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

# FFmpeg's own log goes to stderr and may echo a stream's URL: keep it silent (before cv2 loads it).
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from ..errors import CameraError, ImageError  # noqa: E402
from ..vision.imaging import MAX_FILE_BYTES, LoadedImage, decode_image, load_image  # noqa: E402
from ..redact import redact  # noqa: E402

STREAM_SCHEMES = ("rtsp", "rtsps", "http", "https")
STREAM_TIMEOUT_MS = 5000  # a stream that does not connect, or sends nothing, this long is lost
MAX_PART_HEADER_BYTES = 16_384  # one MJPEG part's boundary and headers; cameras send a few hundred bytes

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class Frame:
    """One frame: (H, W, 3) uint8 RGB pixels, its 0-based number from its source, and when.

    ``timestamp`` is the position in seconds for a video file and ``time.monotonic()`` at
    capture for cameras and image folders; ``name`` is the file name of an image-folder frame.
    ``captured`` is ``time.monotonic()`` when the frame was read, for every kind of source:
    the start of the capture-to-paint latency the window reports.
    """

    pixels: np.ndarray
    index: int
    timestamp: float
    name: str | None = None
    captured: float = field(default_factory=time.monotonic)


class FrameSource(ABC):
    """Where frames come from. ``description`` is for people (the status bar)."""

    description: str
    is_live: bool

    @abstractmethod
    def read(self) -> Frame | None:
        """The next frame; None at the end of a file. A lost camera raises ``CameraError``."""

    @abstractmethod
    def close(self) -> None:
        """Release the device or file; reading afterwards is an error or the end."""

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


class WebcamSource(FrameSource):
    """A camera by OpenCV index, optionally asking for a resolution (the driver may refuse)."""

    is_live = True

    def __init__(self, index: int, width: int | None = None, height: int | None = None) -> None:
        if index < 0:
            raise ValueError(f"a camera index is 0 or more, got {index}")
        if any(size is not None and size <= 0 for size in (width, height)):
            raise ValueError(f"width and height must be positive, got {width}x{height}")
        self.index = index
        self._name = f"camera {index}"
        with _quiet_opencv():
            capture = cv2.VideoCapture(index)
        if not capture.isOpened():
            capture.release()
            raise CameraError(self._name, f"{self._name} not found")
        if width is not None:
            capture.set(cv2.CAP_PROP_FRAME_WIDTH, width)
        if height is not None:
            capture.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        self._capture = capture
        self._count = 0
        actual = (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        self.description = f"{self._name} ({actual[0]}x{actual[1]})"

    def read(self) -> Frame:
        ok, bgr = self._capture.read()
        timestamp = time.monotonic()
        if not ok or bgr is None:
            if self._count:
                raise CameraError(
                    self._name,
                    f"{self._name} stopped delivering frames (unplugged, or in use by another program)",
                )
            raise CameraError(
                self._name, f"{self._name} opened but delivers no frames (in use by another program?)"
            )
        frame = Frame(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), self._count, timestamp)
        self._count += 1
        return frame

    def close(self) -> None:
        self._capture.release()


class NetworkStreamSource(FrameSource):
    """An IP camera: an RTSP or HTTP(S) MJPEG stream, read with OpenCV's FFmpeg backend.

    Connecting and every read time out after ``STREAM_TIMEOUT_MS``, so a camera that goes
    away raises ``CameraError`` (and the live loop retries) instead of hanging a thread.
    The URL, with its password, goes to FFmpeg only: ``description`` and every message show
    it redacted.
    """

    is_live = True

    def __init__(self, url: str) -> None:
        self._name = redact(url)
        self.description = self._name
        self._count = 0
        self._mjpeg = MjpegReader.connect(url, self._name) if url.split("://", 1)[0].lower() in ("http", "https") \
            else None
        if self._mjpeg is not None:
            return
        options = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, STREAM_TIMEOUT_MS, cv2.CAP_PROP_READ_TIMEOUT_MSEC, STREAM_TIMEOUT_MS]
        with _quiet_opencv():
            capture = cv2.VideoCapture(url, cv2.CAP_FFMPEG, options)
        if not capture.isOpened():
            capture.release()
            raise CameraError(self._name, f"{self._name}: the network camera does not answer (unreachable, wrong "
                                          "address or login, or not a video stream)")
        self._capture = capture
        self._count = 0

    def read(self) -> Frame:
        if self._mjpeg is not None:
            pixels = self._mjpeg.read()
        else:
            ok, bgr = self._capture.read()
            if not ok or bgr is None:
                raise CameraError(self._name, f"{self._name}: the network camera stopped sending (disconnected, "
                                              f"or silent for {STREAM_TIMEOUT_MS // 1000} s)")
            pixels = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        frame = Frame(pixels, self._count, time.monotonic())
        self._count += 1
        return frame

    def close(self) -> None:
        if self._mjpeg is not None:
            self._mjpeg.close()
        else:
            self._capture.release()


class MjpegReader:
    """An HTTP MJPEG stream (multipart/x-mixed-replace) read part by part, each bounded before it is read.

    FFmpeg's reader allocates whatever a part's Content-Length announces, so one hostile
    camera could take gigabytes; here a part larger than an image file may be
    (``MAX_FILE_BYTES``), announced or streamed, is refused, and each frame is decoded under
    the image files' pixel limits. Other HTTP streams are left to FFmpeg.
    """

    def __init__(self, connection: http.client.HTTPConnection, response: http.client.HTTPResponse,
                 boundary: bytes, name: str) -> None:
        self._connection, self._response, self._boundary, self._name = connection, response, boundary, name
        self._after_boundary = False  # a part without Content-Length ends where the next one's boundary was read

    @classmethod
    def connect(cls, url: str, name: str) -> MjpegReader | None:
        """The stream at ``url`` if it is MJPEG; None for another kind of HTTP stream."""
        try:
            parts = urllib.parse.urlsplit(url)
            kind = http.client.HTTPSConnection if parts.scheme.lower() == "https" else http.client.HTTPConnection
            headers = {"User-Agent": "OneShot"}
            if parts.username is not None:
                login = f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}"
                headers["Authorization"] = "Basic " + base64.b64encode(login.encode()).decode("ascii")
            target = urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, ""))
            connection = kind(parts.hostname or "", parts.port, timeout=STREAM_TIMEOUT_MS / 1000)
            connection.request("GET", target, headers=headers)
            response = connection.getresponse()
        except (OSError, ValueError, http.client.HTTPException):
            raise CameraError(name, f"{name}: the network camera does not answer (unreachable, wrong address, "
                                    "or not a video stream)") from None
        kind_of, _, options = (response.getheader("Content-Type") or "").partition(";")
        boundary = re.search(r'boundary="?([^";]+)', options)
        if response.status == 200 and kind_of.strip().lower().startswith("multipart/") and boundary:
            return cls(connection, response, boundary.group(1).strip().removeprefix("--").encode("latin-1"), name)
        connection.close()
        if response.status in (401, 403):
            raise CameraError(name, f"{name}: the network camera does not answer (it refused the login: HTTP "
                                    f"{response.status})")
        return None

    def read(self) -> np.ndarray:
        """The next frame's RGB pixels; ``CameraError`` when the camera is lost or sends a bad part."""
        try:
            length = self._part_headers()
            data = self._exactly(length) if length is not None else self._until_boundary()
        except (OSError, http.client.HTTPException):
            raise self._lost() from None
        try:
            return decode_image(data, self._name).pixels
        except ImageError as exc:
            raise CameraError(self._name, f"{self._name}: the network camera sent a frame that is not an image "
                                          f"({exc})") from None

    def close(self) -> None:
        self._connection.close()

    def _lost(self) -> CameraError:
        return CameraError(self._name, f"{self._name}: the network camera stopped sending (disconnected, or "
                                       f"silent for {STREAM_TIMEOUT_MS // 1000} s)")

    def _part_headers(self) -> int | None:
        """Skip to the next part and read its headers; its Content-Length, refused when too large."""
        length = None
        read = 0
        started, self._after_boundary = self._after_boundary, False
        while True:
            line = self._response.readline(MAX_PART_HEADER_BYTES + 1)
            read += len(line)
            if not line:
                raise self._lost()
            if read > MAX_PART_HEADER_BYTES:
                raise CameraError(self._name, f"{self._name}: the network camera sent a part header over "
                                              f"{MAX_PART_HEADER_BYTES} bytes; not a camera stream")
            text = line.strip()
            if not started:
                started = text.startswith(b"--" + self._boundary)
                continue
            if not text:
                return length
            name, _, value = text.partition(b":")
            if name.strip().lower() == b"content-length":
                try:
                    length = int(value.strip())
                except ValueError:
                    raise CameraError(self._name, f"{self._name}: the network camera sent a malformed "
                                                  "Content-Length") from None
                if not 0 <= length <= MAX_FILE_BYTES:
                    raise CameraError(self._name, f"{self._name}: the network camera announced a frame of "
                                                  f"{length:,} bytes; the limit is {MAX_FILE_BYTES:,} (as for "
                                                  "image files)")

    def _exactly(self, length: int) -> bytes:
        data = self._response.read(length)
        if len(data) < length:
            raise self._lost()
        return data

    def _until_boundary(self) -> bytes:
        """A part with no Content-Length: its lines up to the next boundary, refused past the limit."""
        lines: list[bytes] = []
        size = 0
        marker = b"--" + self._boundary
        while True:
            line = self._response.readline(65_536)
            if not line:
                raise self._lost()
            if line.startswith(marker):
                self._after_boundary = True
                return b"".join(lines).removesuffix(b"\r\n")
            size += len(line)
            if size > MAX_FILE_BYTES:
                raise CameraError(self._name, f"{self._name}: the network camera sent a frame over "
                                              f"{MAX_FILE_BYTES:,} bytes; the limit is that of image files")
            lines.append(line)


def is_stream_url(text: str) -> bool:
    return text.strip().split("://", 1)[0].lower() in STREAM_SCHEMES and "://" in text


def list_cameras(max_index: int = 5) -> list[int]:
    """Camera indices 0 .. ``max_index`` (inclusive) that open, probed without log noise."""
    found = []
    with _quiet_opencv():
        for index in range(max_index + 1):
            capture = cv2.VideoCapture(index)
            if capture.isOpened():
                found.append(index)
            capture.release()
    return found


class VideoFileSource(FrameSource):
    """A video file; ``read()`` returns None at the end.

    By default frames come as fast as they decode (``oneshot watch`` processes every one);
    ``realtime`` paces them by their timestamps, so the app plays a clip at its own speed.
    """

    is_live = False

    def __init__(self, path: str | Path, realtime: bool = False) -> None:
        self.path = Path(path)
        source = str(path)
        if not self.path.exists():
            raise CameraError(source, f"{source}: no such file")
        if self.path.is_dir():
            raise CameraError(source, f"{source}: is a folder, not a video file")
        self._fd: int | None = None
        opened = self._openable_name(source)
        with _quiet_opencv():
            capture = cv2.VideoCapture(opened)
        if not capture.isOpened():
            capture.release()
            self._close_fd()
            raise CameraError(source, f"{source}: cannot be opened as a video")
        self._capture = capture
        self._count = 0
        self._realtime = realtime
        self._started: float | None = None  # time.monotonic() of the first frame handed out
        # Decode the first frame now, so a file that opens but holds no video fails here.
        self._pending = self._decode()
        if self._pending is None:
            capture.release()
            self._close_fd()
            raise CameraError(source, f"{source}: cannot be opened as a video (no readable frames)")
        height, width = self._pending.pixels.shape[:2]
        fps = capture.get(cv2.CAP_PROP_FPS)
        rate = f", {fps:g} fps" if fps > 0 else ""
        self.description = f"{self.path.name} ({width}x{height}{rate})"

    def _openable_name(self, source: str) -> str:
        """OpenCV crashes on file names that are not UTF-8: hand it ``/proc/self/fd/N`` for those."""
        try:
            source.encode("utf-8")
            return source
        except UnicodeEncodeError:
            if not Path("/proc/self/fd").is_dir():  # only POSIX has such names, and Linux this way out
                raise CameraError(source, f"{source!r}: a video name that is not valid UTF-8; rename the file") from None
        self._fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        return f"/proc/self/fd/{self._fd}"

    def _close_fd(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def read(self) -> Frame | None:
        frame, self._pending = self._pending, None
        frame = frame if frame is not None else self._decode()
        if frame is not None and self._realtime:
            now = time.monotonic()
            self._started = now - frame.timestamp if self._started is None else self._started
            time.sleep(max(0.0, self._started + frame.timestamp - now))
        return frame

    def close(self) -> None:
        self._pending = None
        self._capture.release()
        self._close_fd()

    def _decode(self) -> Frame | None:
        ok, bgr = self._capture.read()
        if not ok or bgr is None:
            return None
        # After a read, POS_MSEC is the position of the frame just decoded.
        timestamp = self._capture.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
        frame = Frame(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), self._count, timestamp)
        self._count += 1
        return frame


class ImageFolderSource(FrameSource):
    """The images of a folder, in natural order (2.jpg before 10.jpg), as a stream.

    Files ``load_image`` cannot read are skipped with a warning and counted in ``skipped``
    (once each, even when looping), and so are FIFOs, devices and sockets, which are refused
    without being read; hidden files and subfolders are ignored. ``fps`` paces reads like a
    camera and makes the source live; ``loop`` starts again after the last image.
    """

    def __init__(self, folder: str | Path, fps: float | None = None, loop: bool = False) -> None:
        if fps is not None and not 0 < fps < float("inf"):
            raise ValueError(f"fps must be a positive number, got {fps}")
        self.folder = Path(folder)
        source = str(folder)
        if not self.folder.is_dir():
            reason = "is not a folder" if self.folder.exists() else "no such folder"
            raise CameraError(source, f"{source}: {reason}")
        self._paths = sorted(
            (p for p in self.folder.iterdir() if not p.name.startswith(".") and not p.is_dir()),
            key=_natural_key,
        )
        self.fps = fps
        self.loop = loop
        self.is_live = fps is not None
        self.skipped = 0
        self._position = 0
        self._count = 0
        self._due = 0.0  # time.monotonic() before which the next paced frame is not handed out
        total = len(self._paths)
        self._pending = self._load_next()
        if self._pending is None:
            raise CameraError(source, f"{source}: no readable images in this folder")
        pace = f", {fps:g} fps" if fps is not None else ""
        self.description = f"{self.folder.name or source} ({total} files{pace}{', looping' if loop else ''})"

    def read(self) -> Frame | None:
        pending, self._pending = self._pending, None
        loaded = pending if pending is not None else self._load_next()
        if loaded is None:
            return None
        path, image = loaded
        if self.fps is not None:
            # Loading happened first, so its time is part of the wait, not added to it.
            time.sleep(max(0.0, self._due - time.monotonic()))
        timestamp = time.monotonic()
        if self.fps is not None:
            self._due = timestamp + 1.0 / self.fps
        frame = Frame(image.pixels, self._count, timestamp, path.name)
        self._count += 1
        return frame

    def close(self) -> None:
        self._paths = []
        self._pending = None

    def _load_next(self) -> tuple[Path, LoadedImage] | None:
        """The next readable image (wrapping round when looping), or None at the end."""
        while self._paths:
            if self._position >= len(self._paths):
                if not self.loop:
                    return None
                self._position = 0
            path = self._paths[self._position]
            try:
                image = load_image(path)
            except ImageError as exc:
                log.warning("skipping %s", exc)
                self.skipped += 1
                del self._paths[self._position]
                continue
            self._position += 1
            return path, image
        return None


def open_source(
    spec: str, width: int | None = None, height: int | None = None, fps: float | None = None
) -> FrameSource:
    """A source from what a person typed: a camera number, a network camera URL, an image folder or a video file.

    ``width`` and ``height`` apply to cameras; ``fps`` paces image folders, and video files
    at their own rate (the app plays them like a camera).
    """
    text = spec.strip()
    if text.isascii() and text.isdigit():
        return WebcamSource(int(text), width, height)
    if is_stream_url(text):
        return NetworkStreamSource(text)
    path = Path(text)
    if text and path.is_dir():
        return ImageFolderSource(path, fps=fps)
    if text and path.is_file():
        return VideoFileSource(path, realtime=fps is not None)
    raise CameraError(
        redact(spec), f"{redact(spec)!r} is neither a camera number (0, 1, ...), a network camera (rtsp://, "
                      "http://), a folder of images nor a video file"
    )


class LatestFrameGrabber:
    """Read a source on a daemon thread and keep only its newest frame.

    A frame nobody took before the next one arrived is dropped (counted in ``dropped``), so a
    slow consumer always gets the present. An error from the source is raised to the consumer
    by its next ``latest()`` call (and every one after); at the end of a stream ``latest()``
    returns None once the last frame was taken, and ``finished`` becomes True.
    """

    def __init__(self, source: FrameSource) -> None:
        self.source = source
        self.dropped = 0
        self._condition = threading.Condition()
        self._frame: Frame | None = None
        self._error: Exception | None = None
        self._ended = False
        self._stopping = False
        self._thread: threading.Thread | None = None

    def __enter__(self) -> LatestFrameGrabber:
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    @property
    def finished(self) -> bool:
        """True once the stream ended and its last frame was handed out."""
        with self._condition:
            return self._ended and self._frame is None

    def start(self) -> None:
        if self._thread is not None or self._stopping:
            raise RuntimeError("a grabber can be started only once")
        self._thread = threading.Thread(
            target=self._run, name=f"LatestFrameGrabber({self.source.description})", daemon=True
        )
        self._thread.start()

    def latest(self, timeout: float) -> Frame | None:
        """The newest frame not yet handed out, waiting up to ``timeout`` seconds for one.

        None means no new frame in time, the end of the stream (see ``finished``) or a stop.
        """
        if self._thread is None:
            raise RuntimeError("start() the grabber before asking for frames")
        with self._condition:
            self._condition.wait_for(
                lambda: self._frame is not None or self._error is not None or self._ended or self._stopping,
                timeout,
            )
            if self._error is not None:
                raise self._error
            frame, self._frame = self._frame, None
            return frame

    def stop(self, timeout: float = 5.0) -> None:
        """Stop reading, wait for the thread (up to ``timeout``) and close the source.

        The thread closes the source itself once its current ``read()`` returns, so a camera
        stuck in a read is never closed under it.
        """
        with self._condition:
            if self._stopping:
                return
            self._stopping = True
            self._condition.notify_all()
        if self._thread is None:
            self.source.close()
            return
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("%s: still inside a read after %.1f s; it will close when that returns",
                        self.source.description, timeout)

    def _run(self) -> None:
        try:
            while True:
                with self._condition:
                    if self._stopping:
                        return
                frame = self.source.read()
                with self._condition:
                    if frame is None:
                        self._ended = True
                    else:
                        if self._frame is not None:
                            self.dropped += 1
                        self._frame = frame
                    self._condition.notify_all()
                if frame is None:
                    return
        except Exception as exc:  # whatever it is, the consumer gets it, not this thread
            with self._condition:
                self._error = exc
                self._condition.notify_all()
        finally:
            self.source.close()


def _natural_key(path: Path) -> tuple:
    """Sort key putting 2.jpg before 10.jpg: digit runs compare as numbers."""
    parts = re.split(r"(\d+)", path.name.casefold())
    return tuple(int(part) if index % 2 else part for index, part in enumerate(parts)), path.name


@contextmanager
def _quiet_opencv() -> Iterator[None]:
    """Silence OpenCV's own log (e.g. "can't open camera by index") and restore it after."""
    opencv_log = getattr(getattr(cv2, "utils", None), "logging", None)
    if opencv_log is None:
        yield
        return
    previous = opencv_log.getLogLevel()
    opencv_log.setLogLevel(opencv_log.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        opencv_log.setLogLevel(previous)
