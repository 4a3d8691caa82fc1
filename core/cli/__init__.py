"""``oneshot``: the command line over the core API, and the contract other tools script against.

Human-readable output by default, ``--json`` for scripts. A user's mistake prints one line
on stderr naming the file and the problem and exits 2; a broken installation or an internal
failure exits 1. Never a traceback unless ``--debug`` asks for one.
"""

from __future__ import annotations

import argparse
import logging
import sys

from ..errors import OneShotError
from . import faces, people, training, watch
from .common import common_options, gallery_option


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="oneshot", description="One-shot face recognition.",
                                     parents=[common_options()])
    parser.add_argument("--self-test", action="store_true",
                        help="check the installation: models, detection, embedding and matching on a sample")
    parser.set_defaults(run=request_gui, source=None, check_frames=None)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    gui = commands.add_parser("gui", parents=[common_options()], help="open the desktop app (the default)")
    gui.add_argument("--source", default=None, metavar="PATH",
                     help="a webcam index, video file or image folder to use instead of the camera")
    gui.add_argument("--check-frames", type=int, default=None, metavar="N",
                     help="for installer smoke tests: quit after N frames with faces, printing who was seen")
    gui.set_defaults(run=request_gui)
    faces.register(commands)
    people.register(commands)
    watch.register(commands, gallery_option())
    training.register(commands)
    return parser


def run_self_test(args) -> int:
    from ..selftest import run_self_test as self_test

    print(self_test())
    return 0


def request_gui(args) -> int:
    """The desktop app is started by ``gui.launcher`` (core never imports Qt or gui)."""
    raise OneShotError("the desktop app starts from the `oneshot` command (gui.launcher), not from core.cli")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``oneshot`` console script."""
    args = build_parser().parse_args(argv)
    if args.self_test:
        args.run = run_self_test
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING, format="oneshot: %(message)s")
    try:
        return args.run(args)
    except OneShotError as error:
        print(f"oneshot: {error}", file=sys.stderr)
        return error.exit_code
    except BrokenPipeError:  # the reader went away (``oneshot watch ... | head``): nothing left to say
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("oneshot: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # the last line of defence: one line, not a traceback
        if args.debug:
            raise
        print(f"oneshot: internal error: {type(error).__name__}: {error} (rerun with --debug)", file=sys.stderr)
        return 1
