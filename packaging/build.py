"""Build OneShot's installers: ``python packaging/build.py [--variant runtime|full] [--gpu]``.

Runs PyInstaller on ``packaging/oneshot.spec`` (one folder), then packs it the platform's
way: on Linux a ``.tar.gz`` and a ``.deb`` (installed under /opt/oneshot with a desktop entry
and icon), on Windows an Inno Setup installer (``packaging/windows/oneshot.iss``), on macOS
an ``.app`` in a ``.dmg``. The version comes from ``pyproject.toml``. Run it as a file: this
folder is not a Python package.

Variants: ``runtime`` (no torch; the training wizard explains how to get the full build) and
``full`` (with the ``train`` extra installed in the building environment). ``--gpu`` bundles
onnxruntime-gpu's CUDA libraries: build from an environment with
``pip install ".[gpu]" "onnxruntime-gpu[cuda,cudnn]"``.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGING = ROOT / "packaging"


def version() -> str:
    with (ROOT / "pyproject.toml").open("rb") as stream:
        return tomllib.load(stream)["project"]["version"]


def run_pyinstaller(variant: str, gpu: bool, work: Path, dist: Path, icon: Path | None) -> Path:
    env = dict(os.environ, ONESHOT_VARIANT=variant, ONESHOT_GPU="1" if gpu else "0")
    if icon is not None:
        env["ONESHOT_ICON"] = str(icon)
    subprocess.run([sys.executable, "-m", "PyInstaller", "--noconfirm", "--clean", "--log-level", "WARN",
                    "--workpath", str(work), "--distpath", str(dist), str(PACKAGING / "oneshot.spec")],
                   check=True, env=env, cwd=ROOT)
    return dist / "oneshot"


def strip_debug_info(bundle: Path) -> int:
    """Remove debug sections from the ELF files that have them; return the bytes saved.

    A Python built from source (pyenv) ships libpython with ~18 MB of debug information;
    wheels' libraries are already stripped, and stripping their patchelf-edited copies
    again would break them, so those are left alone.
    """
    if shutil.which("strip") is None or shutil.which("readelf") is None:
        return 0
    saved = 0
    for path in bundle.rglob("*"):
        if not path.is_file() or path.is_symlink():
            continue
        with path.open("rb") as stream:
            if stream.read(4) != b"\x7fELF":
                continue
        sections = subprocess.run(["readelf", "-S", "-W", str(path)], capture_output=True, text=True).stdout
        if ".debug_info" not in sections:
            continue
        before = path.stat().st_size
        subprocess.run(["strip", "--strip-debug", str(path)], check=True)
        saved += before - path.stat().st_size
    return saved


def render_icon(target: Path, size: int = 256) -> Path:
    """The SVG icon as PNG or ICO (Windows wants one), drawn with Qt, which the build has anyway."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    app = QGuiApplication.instance() or QGuiApplication([])
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(0)
    painter = QPainter(image)
    QSvgRenderer(str(ROOT / "resources" / "oneshot.svg")).render(painter)
    painter.end()
    target.parent.mkdir(parents=True, exist_ok=True)
    if not image.save(str(target)):
        raise SystemExit(f"could not write {target}")
    del app
    return target


def pack_tarball(bundle: Path, out: Path, name: str, fast: bool = False) -> Path:
    target = out / f"{name}.tar.gz"
    with tarfile.open(target, "w:gz", compresslevel=1 if fast else 9) as archive:
        archive.add(bundle, arcname=name)
    return target


DESKTOP_ENTRY = """[Desktop Entry]
Type=Application
Name=OneShot
GenericName=Face recognition
Comment=One-shot face recognition from your webcam
Exec=/opt/oneshot/oneshot
Icon=oneshot
Terminal=false
Categories=Graphics;Photography;Video;
"""

CONTROL = """Package: oneshot
Version: {version}
Section: graphics
Priority: optional
Architecture: {arch}
Maintainer: OneShot developers <oneshot@localhost>
Depends: libc6, libgl1, libegl1, libxkbcommon0, libxkbcommon-x11-0, libfontconfig1, libdbus-1-3, libxcb-cursor0,
 libxcb-icccm4, libxcb-keysyms1, libxcb-shape0, libxcb-randr0, libxcb-render-util0, libxcb-image0, libxcb-xinerama0
Description: One-shot face recognition on the desktop
 Detects, aligns and identifies faces from a webcam against a gallery enrolled
 from one photo per person. Runs offline; models and licences are bundled.
"""


def pack_deb(bundle: Path, out: Path, release: str, work: Path, fast: bool = False) -> Path:
    """/opt/oneshot (the bundle), /usr/bin/oneshot, a desktop entry and the icon."""
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    root = work / "deb-root"
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(bundle, root / "opt" / "oneshot", symlinks=True)
    (root / "usr" / "bin").mkdir(parents=True)
    (root / "usr" / "bin" / "oneshot").symlink_to("/opt/oneshot/oneshot")
    applications = root / "usr" / "share" / "applications"
    applications.mkdir(parents=True)
    (applications / "oneshot.desktop").write_text(DESKTOP_ENTRY)
    icons = root / "usr" / "share" / "icons" / "hicolor" / "scalable" / "apps"
    icons.mkdir(parents=True)
    shutil.copy(ROOT / "resources" / "oneshot.svg", icons / "oneshot.svg")
    (root / "DEBIAN").mkdir()
    (root / "DEBIAN" / "control").write_text(CONTROL.format(version=release, arch=arch))
    target = out / f"oneshot_{release}_{arch}.deb"
    compression = ["-Zgzip", "-z1"] if fast else []  # a test build: seconds, not minutes of xz
    subprocess.run(["dpkg-deb", "--root-owner-group", *compression, "--build", str(root), str(target)], check=True,
                   stdout=subprocess.DEVNULL)
    return target


def pack_windows(bundle: Path, out: Path, release: str) -> Path:
    compiler = shutil.which("ISCC") or shutil.which("iscc")
    if compiler is None:
        raise SystemExit("Inno Setup's ISCC was not found on PATH (https://jrsoftware.org/isinfo.php)")
    subprocess.run([compiler, f"/DVersion={release}", f"/DBundle={bundle}", f"/O{out}",
                    str(PACKAGING / "windows" / "oneshot.iss")], check=True)
    return out / f"OneShot-{release}-setup.exe"


def pack_macos(dist: Path, out: Path, release: str) -> Path:
    target = out / f"OneShot-{release}.dmg"
    subprocess.run(["hdiutil", "create", "-volname", "OneShot", "-srcfolder", str(dist / "OneShot.app"),
                    "-ov", "-format", "UDZO", str(target)], check=True)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", choices=("runtime", "full"), default="runtime")
    parser.add_argument("--gpu", action="store_true", help="bundle onnxruntime-gpu and its CUDA libraries")
    parser.add_argument("--out", type=Path, default=ROOT / "dist", help="where the installers go")
    parser.add_argument("--work", type=Path, default=ROOT / "build", help="PyInstaller's scratch folder")
    parser.add_argument("--fast", action="store_true",
                        help="compress the Linux packages lightly (a test build: larger files, minutes sooner)")
    args = parser.parse_args()
    release = version()
    args.out.mkdir(parents=True, exist_ok=True)
    system = platform.system()
    icon = render_icon(args.work / "oneshot.ico") if system == "Windows" else None
    bundle = run_pyinstaller(args.variant, args.gpu, args.work / "pyinstaller", args.out / "bundle", icon)
    suffix = ("-gpu" if args.gpu else "") + ("-full" if args.variant == "full" else "")
    name = f"oneshot-{release}{suffix}-{system.lower()}-{platform.machine()}"
    if system == "Linux":
        print(f"stripped {strip_debug_info(bundle) / 1e6:.0f} MB of debug information")
        made = [pack_tarball(bundle, args.out, name, args.fast), pack_deb(bundle, args.out, release, args.work, args.fast)]
    elif system == "Windows":
        made = [pack_windows(bundle, args.out, release)]
    elif system == "Darwin":
        made = [pack_macos(args.out / "bundle", args.out, release)]
    else:
        raise SystemExit(f"no installer recipe for {system}")
    for path in made:
        print(f"built {path} ({path.stat().st_size / 1e6:.0f} MB)")


if __name__ == "__main__":
    main()
