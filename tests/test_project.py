"""Project rules that tooling can check: README commands run in CI, core stays free of Qt."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    """The shell commands in the README's first code block, one per line."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```(?:sh|bash)\n(.*?)```", text, re.S)
    assert block, "README must start with a shell code block of set-up commands"
    return [line for line in block.group(1).splitlines() if line and not line.startswith("#")]


def test_readme_starts_with_two_commands_and_ci_runs_the_second():
    commands = readme_commands()
    assert len(commands) == 2
    assert commands[1] in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()


def test_core_never_imports_qt_or_gui_and_keeps_its_layers():
    """import-linter's contracts in pyproject.toml, run by this interpreter (no venv on PATH needed)."""
    command = [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports; "
               "sys.exit(lint_imports(no_cache=True))"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_packaging_folder_is_not_a_python_package():
    """It would hide PyPI's `packaging`, which onnxruntime and setuptools import."""
    assert not (ROOT / "packaging" / "__init__.py").exists()


def test_code_passes_the_linter():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--quiet", "core", "gui", "tests"], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
