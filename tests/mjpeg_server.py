"""A real MJPEG camera on 127.0.0.1 for the tests: HTTP multipart/x-mixed-replace, as IP cameras serve.

Serves the given JPEG frames in a loop at ``fps``, optionally behind HTTP basic authentication;
``stop()`` closes the socket and every open stream (the camera is unplugged), ``start()`` on
the same port brings it back.
"""

from __future__ import annotations

import base64
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BOUNDARY = "oneshotframe"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class MjpegCamera:
    def __init__(self, frames: list[bytes], fps: float = 15.0, credentials: tuple[str, str] | None = None,
                 port: int | None = None) -> None:
        self.frames, self.fps, self.port = frames, fps, port or free_port()
        self.expected = "Basic " + base64.b64encode(":".join(credentials).encode()).decode() if credentials else None
        self.served = 0
        self._server: ThreadingHTTPServer | None = None
        self._running = threading.Event()

    def url(self, user: str | None = None, password: str | None = None) -> str:
        login = f"{user}:{password}@" if user else ""
        return f"http://{login}127.0.0.1:{self.port}/video.mjpg"

    def start(self) -> MjpegCamera:
        camera = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                if camera.expected and self.headers.get("Authorization") != camera.expected:
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="camera"')
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
                self.end_headers()
                number = 0
                try:
                    while camera._running.is_set():
                        jpeg = camera.frames[number % len(camera.frames)]
                        self.wfile.write(f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: "
                                         f"{len(jpeg)}\r\n\r\n".encode() + jpeg + b"\r\n")
                        camera.served += 1
                        number += 1
                        time.sleep(1 / camera.fps)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self._running.set()
        threading.Thread(target=self._server.serve_forever, name="mjpeg camera", daemon=True).start()
        return self

    def stop(self) -> None:
        self._running.clear()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
