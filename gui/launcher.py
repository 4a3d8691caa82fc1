"""The ``oneshot`` console script: the desktop app with no command (or ``gui``), else the CLI.

It lives in ``gui`` because ``core`` must never import the GUI; Qt itself is imported only
when the app is really started, so command-line use stays light.
"""

from __future__ import annotations

import os
import sys

from core.cli import build_parser, main as cli_main, request_gui


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    if args.run is not request_gui or args.self_test:
        return cli_main(argv)
    if not _display_available():
        print("oneshot: no display to open the window on (no DISPLAY or WAYLAND_DISPLAY); "
              "use the command line instead: oneshot --help", file=sys.stderr)
        return 2
    from .qt_compat import qt_binding_problem

    if problem := qt_binding_problem():
        print(f"oneshot: {problem}", file=sys.stderr)
        return 2
    from .app import run

    return run(args.source, check_frames=args.check_frames)


def _display_available() -> bool:
    """Qt aborts the process without a display; say so plainly instead (Linux and BSD only)."""
    if not sys.platform.startswith(("linux", "freebsd")) or os.environ.get("QT_QPA_PLATFORM"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
