"""Network cameras: real MJPEG and RTSP cameras served on 127.0.0.1, read, lost, found again; no password shown."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from core.live.camera import NetworkStreamSource, open_source
from core.errors import CameraError
from core.redact import redact
from core.live.service import Identified, SourceLost, SourceStarted
from mjpeg_server import MjpegCamera, free_port
from rtsp_server import RtspCamera
from rtsp_server import unavailable_reason as rtsp_unavailable

ROOT = Path(__file__).resolve().parents[1]
SECRET = "s3cret-Pa55"


@pytest.mark.parametrize("text, shown", [
    (f"rtsp://admin:{SECRET}@10.0.0.2:554/live?channel=1", "rtsp://***@10.0.0.2:554/live?channel=1"),
    (f"http://cam.local/video.mjpg?user=a&password={SECRET}", "http://cam.local/video.mjpg?user=a&password=***"),
    (f"rtsps://viewer@cam/stream?token={SECRET}", "rtsps://***@cam/stream?token=***"),
    (f"camera rtsp://u:{SECRET}@h/x stopped sending", "camera rtsp://***@h/x stopped sending"),
    ("0", "0"), ("/home/ana/clips/door.mp4", "/home/ana/clips/door.mp4"),
])
def test_credentials_in_a_url_are_never_shown(text, shown):
    assert redact(text) == shown


@pytest.fixture(params=["mjpeg", "rtsp"])
def camera(people, request):
    """A network camera (login admin / SECRET) showing Obama's second photo, 15 frames/s: HTTP
    MJPEG, or RTSP (RTP/JPEG from GStreamer's RTSP server)."""
    frames = [people["barack_obama"][1].read_bytes()]
    if request.param == "mjpeg":
        served = MjpegCamera(frames, fps=15, credentials=("admin", SECRET)).start()
        yield served
        served.stop()
        return
    reason = rtsp_unavailable()
    if reason:
        pytest.skip(reason)
    served = RtspCamera(frames, free_port(), credentials=("admin", SECRET), fps=15).start()
    yield served
    served.close()


def test_a_stream_is_read_and_its_description_hides_the_password(camera, caplog):
    caplog.set_level(logging.DEBUG)
    with open_source(camera.url("admin", SECRET)) as source:
        assert isinstance(source, NetworkStreamSource) and source.is_live
        frame = source.read()
        assert frame.pixels.ndim == 3 and frame.pixels.shape[2] == 3
        assert SECRET not in source.description and "***@127.0.0.1" in source.description
    with pytest.raises(CameraError, match="does not answer") as refused:
        open_source(camera.url("admin", "wrong"))  # HTTP 401
    assert SECRET not in str(refused.value)
    assert SECRET not in caplog.text


def test_an_unreachable_camera_is_a_clear_error_without_the_password():
    for scheme in ("rtsp", "http"):
        with pytest.raises(CameraError, match="the network camera does not answer") as caught:
            open_source(f"{scheme}://admin:{SECRET}@127.0.0.1:{free_port()}/live")
        assert SECRET not in str(caught.value) and SECRET not in caught.value.source


def test_a_lost_camera_is_retried_and_identification_resumes(obama_service, camera, caplog):
    """Stopped and restarted on the same port: SourceLost, then SourceStarted(restored), then
    the person again. Prints the time from the restart to the first identified frame."""
    caplog.set_level(logging.DEBUG)
    service = obama_service()
    live = service.live(camera.url("admin", SECRET))
    seen = []
    restarted = None
    for event in live:
        seen.append(event)
        if isinstance(event, Identified) and any(face.name == "Obama" for face in event.faces):
            if restarted is not None:
                print(f"\nreconnected: first identified frame {time.monotonic() - restarted:.2f} s after the restart")
                break
            if not any(isinstance(e, SourceLost) for e in seen):
                camera.stop()
        if isinstance(event, SourceLost) and restarted is None:
            camera.start()
            restarted = time.monotonic()
    live.close()
    kinds = [type(event).__name__ for event in seen if event is not None]
    assert kinds[0] == "SourceStarted" and "SourceLost" in kinds
    lost = next(event for event in seen if isinstance(event, SourceLost))
    back = [event for event in seen if isinstance(event, SourceStarted) and event.restored]
    assert back and ("stopped sending" in lost.message or "does not answer" in lost.message)
    for text in [lost.message, back[0].description, caplog.text]:
        assert SECRET not in text


def test_watch_on_a_network_camera_never_prints_the_password(camera, obama_service, tmp_path):
    service = obama_service()  # Obama enrolled in tmp_path / "g.db"
    gallery = service.gallery_path
    service.close()
    command = [sys.executable, "-m", "core.cli", "watch", camera.url("admin", SECRET), "--gallery", str(gallery),
               "--max-frames", "8", "--json"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120, env=dict(os.environ))
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    assert {"event": "appeared", "name": "Obama"}.items() <= events[0].items()
    camera.stop()
    lost = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120, env=dict(os.environ))
    assert lost.returncode == 2 and "the network camera does not answer" in lost.stderr
    for output in (done.stdout, done.stderr, lost.stdout, lost.stderr):
        assert SECRET not in output


class HostileCamera:
    """An MJPEG 'camera' on 127.0.0.1 whose first part is huge: announced (``length``) or just
    streamed without a Content-Length, ``sent`` bytes of filler 1 MB at a time."""

    def __init__(self, sent: int, length: int | None) -> None:
        self.sent, self.length = sent, length
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://admin:{SECRET}@127.0.0.1:{self._listener.getsockname()[1]}/video.mjpg"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            connection, _ = self._listener.accept()
            with connection:
                connection.recv(65536)
                announced = f"Content-Length: {self.length}\r\n" if self.length is not None else ""
                connection.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=b\r\n\r\n"
                                   + f"--b\r\nContent-Type: image/jpeg\r\n{announced}\r\n".encode())
                filler = b"\xff" * 1_000_000
                for _ in range(self.sent // len(filler)):
                    connection.sendall(filler)

    def close(self) -> None:
        self._listener.close()


# Reads the first frame of a camera in a process of its own: its peak memory is the reader's.
READ_ONE_FRAME = """
import json, sys
from core.live.camera import open_source
from core.errors import CameraError

def resident(field):
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith(field))

before = resident("VmRSS:")
try:
    with open_source(sys.argv[1]) as source:
        source.read()
    error = None
except CameraError as exc:
    error = str(exc)
print(json.dumps({"error": error, "grew": resident("VmHWM:") - before}))
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="measures memory through /proc")
def test_a_part_announcing_2_gb_is_refused_before_it_is_read():
    camera = HostileCamera(sent=300_000_000, length=2_000_000_000)
    try:
        done = subprocess.run([sys.executable, "-c", READ_ONE_FRAME, camera.url], cwd=ROOT, capture_output=True,
                              text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    finally:
        camera.close()
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["error"] and "announced a frame of 2,000,000,000 bytes; the limit is 500,000,000" in result["error"]
    assert SECRET not in result["error"] + done.stderr
    assert result["grew"] < 100_000_000


def test_a_part_streamed_past_the_image_limit_is_refused(monkeypatch):
    monkeypatch.setattr("core.live.camera.MAX_FILE_BYTES", 2_000_000)
    camera = HostileCamera(sent=20_000_000, length=None)
    try:
        with NetworkStreamSource(camera.url) as source, pytest.raises(CameraError, match="over 2,000,000 bytes"):
            source.read()
    finally:
        camera.close()
