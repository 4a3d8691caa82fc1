"""``oneshot watch SOURCE``: the live pipeline on a webcam, a video file or an image folder.

Prints one line per identity event (appeared, left) and a final summary. The loop is the
recognition service's, the same the desktop app runs: a live camera is read on its own
thread that keeps only the newest frame, so a slow machine drops frames instead of falling
behind; a file's frames are all processed (on a GPU, each detected while the one before is
embedded).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace

from ..errors import CameraError
from ..storage.names import printable
from .common import at_least, detect_side, positive_number, video_source  # option types
from .common import common_options, model_options, resolved_settings
from .passphrases import gallery_passphrase
from ..vision.pipeline import LIVE_DETECTORS


def register(commands, gallery_option) -> None:
    watch = commands.add_parser("watch", parents=[common_options(), model_options(), gallery_option],
                                help="identify faces live on a webcam, video file or image folder")
    watch.add_argument("source", type=video_source, metavar="SOURCE", help="webcam index (0), network camera URL (rtsp://user:password@host/path, http://host/video.mjpg), "
                            "video file or image folder")
    watch.add_argument("--max-frames", type=at_least(1), default=None, help="stop after this many frames")
    watch.add_argument("--tau", type=positive_number, default=None, help="distance threshold (default from the model)")
    watch.add_argument("--liveness", action=argparse.BooleanOptionalAction, default=None,
                       help="never name a face judged a photo or a screen (default: the app's setting, on)")
    watch.add_argument("--detect-side", type=detect_side, default=None, metavar="PX",
                       help="longest side of the detector's input (default 384; 0: the full-size rule of still photos)")
    watch.add_argument("--detector", dest="live_detector", choices=LIVE_DETECTORS, default=None,
                       help="the live detector: yunet-n (fast, the default) or centerface (the photos' own, slower, "
                            "names more masked faces; default: ONESHOT_LIVE_DETECTOR or the app's setting)")
    watch.add_argument("--reconnect", action="store_true",
                       help="keep trying a lost or absent camera every 2 seconds (Ctrl-C ends), as the app does")
    watch.set_defaults(run=run_watch)


def _print_event(args, event, frame) -> None:
    who = printable(event.name) if event.name else "unknown person"
    if args.json:
        print(json.dumps({"event": event.kind, "name": event.name, "track": event.track_id, "frame": event.frame,
                          "image": frame.name if frame else None}), flush=True)
    else:
        print(f"frame {event.frame}: {who} {event.kind} (track {event.track_id})", flush=True)


def _people(count: int) -> str:
    return f"{count} unknown {'person' if count == 1 else 'people'}"


def run_watch(args) -> int:
    from ..live.loop import LIVE_LONG_SIDE
    from ..live.service import Identified, RecognitionService, SourceLost

    side = LIVE_LONG_SIDE if args.detect_side is None else (args.detect_side or None)
    status = 0
    settings = resolved_settings(args)
    if args.liveness is not None:
        settings = replace(settings, liveness=args.liveness)
    with RecognitionService.open(settings, detect_long_side=side,
                                 passphrase=gallery_passphrase) as service:
        start = time.perf_counter()
        frame = None
        try:
            for event in service.live(args.source, realtime=False, reconnect=args.reconnect,
                                      max_frames=args.max_frames):
                if isinstance(event, Identified):
                    frame = event.frame
                    for track_event in event.events:
                        _print_event(args, track_event, frame)
                elif isinstance(event, SourceLost):
                    print(f"oneshot: {event.message}; trying again every {event.retry_seconds:g} s", file=sys.stderr)
        except CameraError as error:  # the camera went away: report, then summarise what we saw
            print(f"oneshot: {error}", file=sys.stderr)
            status = error.exit_code
        except KeyboardInterrupt:
            pass
        elapsed = time.perf_counter() - start
        for event in service.finish():
            _print_event(args, event, frame)
        counters = service.recognizer.summary()
        unknown = service.unknown_groups()  # in memory only: they end with the process
    summary = {
        "frames": counters.frames,
        "fps": round(counters.frames / elapsed, 2) if elapsed > 0 else 0.0,
        "stage_ms": {stage: round(ms, 3) for stage, ms in counters.stage_ms.items()},
        "embed_calls": counters.embed_calls,
        "liveness_checks": counters.liveness_calls,
        "detections": counters.detections,  # frames the detector ran on; the others moved too little (core.live.motion)
        "detections_skipped": counters.detections_skipped,
        "faces_seen": counters.faces_seen,
        # People seen but not recognised, grouped by face: "faces" is how many times each was
        # embedded and found unknown (once per re-embedding of its track, not once per frame).
        "unknown_groups": [{"id": group.group_id, "faces": group.count, "first_frame": group.first_frame,
                            "last_frame": group.last_frame} for group in unknown],
    }
    if args.json:
        print(json.dumps({"summary": summary}))
    else:
        stages = ", ".join(f"{stage} {ms:.1f}" for stage, ms in summary["stage_ms"].items())
        print(f"{summary['frames']} frames at {summary['fps']:.1f} frames/s; median ms: {stages}; "
              f"{summary['embed_calls']} faces embedded for {summary['faces_seen']} seen; detector ran on "
              f"{summary['detections']} frames (skipped {summary['detections_skipped']} still ones); "
              f"{_people(len(unknown))} seen")
    return status
