"""The frozen app's entry point (run as a file by PyInstaller, never imported)."""

import sys

from gui.launcher import main

if __name__ == "__main__":
    sys.exit(main())
