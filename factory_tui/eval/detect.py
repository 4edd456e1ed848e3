"""What kind of project this is, and how its tests run."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from . import tools

NPM_PLACEHOLDER = 'echo "Error: no test specified"'


@dataclass(frozen=True)
class ProjectKind:
    language: str  # python | node | go | rust | unknown
    test_command: list[str] | None  # None: pytest, run by the eval itself
    reason: str = ""


def detect(root: Path, configured: list[str] | None = None) -> ProjectKind:
    """The project's language and test command; a configured command always wins."""
    if configured:
        return ProjectKind(_language(root), list(configured), "test_command from config")
    if _is_python(root, strict=True):
        return ProjectKind("python", None, "Python packaging metadata")
    package = root / "package.json"
    if package.is_file():
        script = _npm_test_script(package)
        if script:
            return ProjectKind("node", ["npm", "test", "--silent"], "package.json scripts.test")
        return ProjectKind("node", None, "package.json has no test script")
    if (root / "go.mod").is_file():
        return ProjectKind("go", ["go", "test", "-json", "./..."], "go.mod")
    if (root / "Cargo.toml").is_file():
        return ProjectKind("rust", ["cargo", "test", "--quiet"], "Cargo.toml")
    if _is_python(root, strict=False):
        return ProjectKind("python", None, "Python sources")
    return ProjectKind("unknown", None, "no known project files")


def _language(root: Path) -> str:
    return detect(root).language


def _is_python(root: Path, strict: bool) -> bool:
    markers = ("pyproject.toml", "setup.py", "setup.cfg")
    if any((root / marker).is_file() for marker in markers):
        return True
    return not strict and next(tools.python_files(root), None) is not None


def _npm_test_script(package: Path) -> str | None:
    try:
        scripts = json.loads(package.read_text(encoding="utf-8")).get("scripts") or {}
    except (OSError, ValueError):
        return None
    script: str | None = scripts.get("test")
    if not script or script.startswith(NPM_PLACEHOLDER):
        return None
    return script


def tool_available(name: str) -> bool:
    return shutil.which(name) is not None
