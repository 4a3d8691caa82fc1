"""A real RTSP camera on 127.0.0.1 for the tests: GStreamer's RTSP server (Debian's
``gir1.2-gst-rtsp-server-1.0``) sending JPEG frames over RTP, behind a login, as IP cameras do.

OpenCV's wheel has no GStreamer, and GStreamer's Python binding comes with the system's Python,
not PyPI: so the server runs as a process of the system Python (``/usr/bin/python3``) and the
tests read it through OpenCV's FFmpeg, like any other camera. ``stop()`` kills the server
(the camera is unplugged); ``start()`` brings it back on the same port.

Run by hand: ``/usr/bin/python3 tests/rtsp_server.py PORT USER PASSWORD FPS FRAME.jpg...``
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

SYSTEM_PYTHON = "/usr/bin/python3"
PATH = "/live"


def unavailable_reason() -> str | None:
    """Why no RTSP camera can be served here (None: it can)."""
    if not Path(SYSTEM_PYTHON).exists():
        return f"no system Python at {SYSTEM_PYTHON} for GStreamer's RTSP server"
    probe = subprocess.run([SYSTEM_PYTHON, "-c", "import gi; gi.require_version('GstRtspServer', '1.0'); "
                            "from gi.repository import Gst, GstRtspServer; Gst.init(None); "
                            "assert Gst.ElementFactory.find('rtpjpegpay') and Gst.ElementFactory.find('multifilesrc')"],
                           capture_output=True, text=True)
    if probe.returncode:
        return ("GStreamer's RTSP server is not installed (Debian: python3-gi gir1.2-gst-rtsp-server-1.0 "
                "gstreamer1.0-plugins-good)")
    return None


def baseline_jpeg(jpeg: bytes) -> bytes:
    """The picture as a baseline JPEG: RTP's JPEG payload (RFC 2435) cannot carry progressive ones."""
    import cv2
    import numpy as np

    return cv2.imencode(".jpg", cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR))[1].tobytes()


class RtspCamera:
    def __init__(self, frames: list[bytes], port: int, credentials: tuple[str, str], fps: int = 15) -> None:
        self.port, self.credentials, self.fps = port, credentials, fps
        self._folder = Path(tempfile.mkdtemp(prefix="rtsp-camera-"))
        self._frames = []
        for number, jpeg in enumerate(frames):
            path = self._folder / f"frame{number:03d}.jpg"
            path.write_bytes(baseline_jpeg(jpeg))
            self._frames.append(str(path))
        self._process: subprocess.Popen | None = None

    def url(self, user: str | None = None, password: str | None = None) -> str:
        login = f"{user}:{password}@" if user else ""
        return f"rtsp://{login}127.0.0.1:{self.port}{PATH}"

    def start(self) -> RtspCamera:
        user, password = self.credentials
        self._process = subprocess.Popen([SYSTEM_PYTHON, __file__, str(self.port), user, password, str(self.fps),
                                          *self._frames], stdout=subprocess.PIPE, text=True)
        if self._process.stdout.readline().strip() != "serving":
            raise RuntimeError(f"the RTSP server did not start (exit {self._process.wait()})")
        return self

    def stop(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self._folder, ignore_errors=True)


def serve(port: int, user: str, password: str, fps: int, frames: list[str]) -> None:
    """The server process: the frames in a loop at ``fps``, to clients that log in."""
    import gi

    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstRtspServer

    Gst.init(None)
    folder = Path(frames[0]).parent
    # multifilesrc loops over frame000.jpg ... (its index wraps with loop=true)
    pipeline = (f"( multifilesrc location={folder}/frame%03d.jpg index=0 stop-index={len(frames) - 1} loop=true "
                f"caps=image/jpeg,framerate={fps}/1 ! jpegparse ! rtpjpegpay name=pay0 pt=26 )")
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(pipeline)
    factory.set_shared(True)
    permissions = GstRtspServer.RTSPPermissions()
    permissions.add_permission_for_role("viewer", "media.factory.access", True)
    permissions.add_permission_for_role("viewer", "media.factory.construct", True)
    factory.set_permissions(permissions)
    token = GstRtspServer.RTSPToken()
    token.set_string("media.factory.role", "viewer")
    auth = GstRtspServer.RTSPAuth()
    auth.add_basic(GstRtspServer.RTSPAuth.make_basic(user, password), token)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(port))
    server.set_auth(auth)
    server.get_mount_points().add_factory(PATH, factory)
    if server.attach(None) == 0:
        sys.exit(f"cannot listen on 127.0.0.1:{port}")
    print("serving", flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    serve(int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5:])
