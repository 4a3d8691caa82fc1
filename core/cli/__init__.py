"""``oneshot``: the command line over the core API, and the contract other tools script against.

Human-readable output by default, ``--json`` for scripts. A user's mistake prints one line
on stderr naming the file and the problem and exits 2; a broken installation or an internal
failure exits 1. Never a traceback unless ``--debug`` asks for one.
"""

from __future__ import annotations

import argparse
import codecs
import logging
import sys

from ..live.camera_session import MAX_CAMERAS
from ..errors import OneShotError
from ..storage.history import set_program
from . import custody, faces, models, people, training, watch
from .common import (accept_shared_options, at_least, common_options, finish_arguments, gallery_option,
                     global_options, video_source)


class OneShotParser(argparse.ArgumentParser):
    """The top-level parser: after parsing, shared options are checked and their defaults filled in."""

    def parse_args(self, args=None, namespace=None):  # noqa: D102 (argparse's signature)
        return finish_arguments(self, super().parse_args(args, namespace))


class SourceList(argparse.Action):
    """``--source`` given once or repeated: the list of sources, refused past MAX_CAMERAS."""

    def __call__(self, parser, namespace, value, option_string=None) -> None:
        sources = list(getattr(namespace, self.dest, None) or []) + [value]
        if len(sources) > MAX_CAMERAS:
            parser.error(f"argument --source: at most {MAX_CAMERAS} cameras in one window")
        setattr(namespace, self.dest, sources)


def build_parser() -> argparse.ArgumentParser:
    parser = OneShotParser(prog="oneshot", description="One-shot face recognition.", parents=[global_options()])
    parser.add_argument("--self-test", action="store_true",
                        help="check the installation: models, detection, embedding and matching on a sample")
    # No command is the desktop app, which takes the same shared options as `oneshot gui`.
    parser.set_defaults(run=request_gui, source=None, check_frames=None,
                        _shared_options=frozenset({"json", "debug"}), _command="gui")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=argparse.ArgumentParser)
    gui = commands.add_parser("gui", parents=[common_options()], help="open the desktop app (the default)")
    gui.add_argument("--source", type=video_source, action=SourceList, default=None, metavar="SOURCE",
                     help="a webcam index, network camera URL (rtsp://, http://), video file or image folder to use "
                          f"instead of the camera; repeat it for several cameras side by side (at most {MAX_CAMERAS})")
    gui.add_argument("--check-frames", type=at_least(1), default=None, metavar="N",
                     help="for installer smoke tests: quit after N frames with faces, printing who was seen")
    gui.set_defaults(run=request_gui)
    faces.register(commands)
    people.register(commands)
    watch.register(commands, gallery_option())
    training.register(commands)
    models.register(commands)
    custody.register(commands)
    accept_shared_options(commands)
    return parser


def run_self_test(args) -> int:
    from ..selftest import run_self_test as self_test

    print(self_test())
    return 0


def request_gui(args) -> int:
    """The desktop app is started by ``gui.launcher`` (core never imports Qt or gui)."""
    raise OneShotError("the desktop app starts from the `oneshot` command (gui.launcher), not from core.cli")


def _bytes_for_surrogates(error: UnicodeError):
    """Encode the surrogates of undecodable file-name bytes as those bytes, anything else escaped.

    Linux file names are bytes; Python hands ``caf\\xe9.jpg`` (Latin-1) to us as
    ``'caf\\udce9.jpg'``. Printed this way the name on stdout is the file's own name again.
    """
    if not isinstance(error, UnicodeEncodeError):
        raise error
    out = bytearray()
    for char in error.object[error.start:error.end]:
        code = ord(char)
        out += bytes([code - 0xDC00]) if 0xDC80 <= code <= 0xDCFF else char.encode("ascii", "backslashreplace")
    return bytes(out), error.end


codecs.register_error("oneshot.surrogates", _bytes_for_surrogates)


def _tolerant_output() -> None:
    """Never fail printing a name: stdout writes undecodable file names back as their bytes,
    stderr escapes them (``caf\\udce9.jpg``), as Python's own stderr does."""
    for stream, errors in ((sys.stdout, "oneshot.surrogates"), (sys.stderr, "backslashreplace")):
        try:
            stream.reconfigure(errors=errors)
        except (AttributeError, ValueError, OSError):  # not a text stream we can change: leave it
            pass


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``oneshot`` console script."""
    _tolerant_output()
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as leaving:  # --help, or argparse has printed what is wrong with an option
        return leaving.code if isinstance(leaving.code, int) else 0
    if args.self_test:
        args.run = run_self_test
    set_program(args.program)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING, format="oneshot: %(message)s")
    # Pillow logs its own complaints about a damaged file; the one line we print says it all.
    logging.getLogger("PIL").setLevel(logging.WARNING if args.debug else logging.CRITICAL)
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
