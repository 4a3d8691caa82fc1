"""``oneshot watch SOURCE``: the live pipeline on a webcam, a video file or an image folder.

Prints one line per identity event (appeared, left) and a final summary. A live camera is
read on its own thread that keeps only the newest frame, so a slow machine drops frames
instead of falling behind; a file's frames are all processed (on a GPU, each detected while
the one before is embedded).
"""

from __future__ import annotations

import json
import sys
import time

from ..errors import CameraError
from .common import common_options, load_pipeline, model_options


def register(commands, gallery_option) -> None:
    watch = commands.add_parser("watch", parents=[common_options(), model_options(), gallery_option],
                                help="identify faces live on a webcam, video file or image folder")
    watch.add_argument("source", metavar="SOURCE", help="webcam index (0), video file or image folder")
    watch.add_argument("--max-frames", type=int, default=None, help="stop after this many frames")
    watch.add_argument("--tau", type=float, default=None, help="distance threshold (default from the model)")
    watch.add_argument("--detect-side", type=int, default=None, metavar="PX",
                       help="longest side of the detector's input (default 384; 0: the full-size rule of still photos)")
    watch.set_defaults(run=run_watch)


def _frames(source, limit):
    """Frames in order; a live source through a newest-frame-only grabber."""
    from ..camera import LatestFrameGrabber

    count = 0
    if source.is_live:
        with LatestFrameGrabber(source) as grabber:
            while limit is None or count < limit:
                frame = grabber.latest(timeout=5.0)
                if frame is None:
                    if grabber.finished:
                        return
                    raise CameraError(source.description, f"{source.description}: no frame for 5 seconds")
                count += 1
                yield frame
    else:
        with source:
            while limit is None or count < limit:
                frame = source.read()
                if frame is None:
                    return
                count += 1
                yield frame


def _print_event(args, event, frame) -> None:
    who = event.name or "unknown person"
    if args.json:
        print(json.dumps({"event": event.kind, "name": event.name, "track": event.track_id, "frame": event.frame,
                          "image": frame.name if frame else None}), flush=True)
    else:
        print(f"frame {event.frame}: {who} {event.kind} (track {event.track_id})", flush=True)


def run_watch(args) -> int:
    from ..camera import open_source
    from ..gallery import Gallery
    from ..live import LIVE_LONG_SIDE, LiveRecognizer
    from ..match import Matcher

    pipeline = load_pipeline(args)
    source = open_source(args.source)
    status = 0
    with Gallery(args.gallery) as gallery:
        matcher = Matcher(gallery, pipeline.embedder.spec.id, pipeline.tau if args.tau is None else args.tau)
        side = LIVE_LONG_SIDE if args.detect_side is None else (args.detect_side or None)
        recognizer = LiveRecognizer(pipeline, matcher, detect_long_side=side)
        start = time.perf_counter()
        frame = None
        try:
            for result in recognizer.results(_frames(source, args.max_frames), source.is_live):
                frame = result.frame
                for event in result.events:
                    _print_event(args, event, frame)
        except CameraError as error:  # the camera went away: report, then summarise what we saw
            print(f"oneshot: {error}", file=sys.stderr)
            status = error.exit_code
        except KeyboardInterrupt:
            pass
        elapsed = time.perf_counter() - start
        for event in recognizer.finish():
            _print_event(args, event, frame)
    counters = recognizer.summary()
    summary = {
        "frames": counters.frames,
        "fps": round(counters.frames / elapsed, 2) if elapsed > 0 else 0.0,
        "stage_ms": {stage: round(ms, 3) for stage, ms in counters.stage_ms.items()},
        "embed_calls": counters.embed_calls,
        "faces_seen": counters.faces_seen,
    }
    if args.json:
        print(json.dumps({"summary": summary}))
    else:
        stages = ", ".join(f"{stage} {ms:.1f}" for stage, ms in summary["stage_ms"].items())
        print(f"{summary['frames']} frames at {summary['fps']:.1f} frames/s; median ms: {stages}; "
              f"{summary['embed_calls']} faces embedded for {summary['faces_seen']} seen")
    return status
