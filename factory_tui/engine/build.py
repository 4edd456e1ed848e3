"""Build mode: from an idea, a spec file or a git repository to a project the factory improves.

An idea becomes a spec through the Distiller; a spec file is read; a git URL or path is
cloned. A new project starts as a fresh git repository with an empty first commit, named so
it shadows no command; the CEO's first step (`ceo/build.py`) scaffolds it. This module is
what needs no agent: targets, names, the first commit, the backlog seeded from the spec.
"""

from __future__ import annotations

import keyword
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NamedTuple

import git
import tomli_w
from git.exc import GitCommandError

from .errors import UsageError
from .models import Hypothesis
from .spec import backlog_items, eval_metrics, parse_spec
from .store import FACTORY_DIR, Store, write_atomic
from .workspace import FACTORY_ENV, Workspace

_GIT_URL = re.compile(r"^(?:https?|ssh|git|file)://|^[\w.-]+@[\w.-]+:")
_SPEC_SUFFIXES = (".md", ".markdown", ".txt", ".rst")


@dataclass(frozen=True)
class Target:
    kind: Literal["idea", "spec", "git"]
    value: str


def resolve_target(text: str) -> Target:
    """What the user asked to build from; bad input is a UsageError naming the problem."""
    if not text.strip():
        raise UsageError(
            'the idea is empty: say what to build, e.g. "a CLI that renames photos by date"'
        )
    if _GIT_URL.match(text):
        return Target("git", text)
    path = Path(text).expanduser()
    if path.is_dir():
        if (path / ".git").exists():
            return Target("git", str(path.resolve()))
        raise UsageError(
            f"{path}: a folder that is not a git repository; give a spec file, "
            "an idea, or a repository to build from"
        )
    if path.is_file():
        read_spec_file(path)
        return Target("spec", str(path.resolve()))
    looks_like_a_path = not any(c.isspace() for c in text.strip()) and (
        "/" in text or text.endswith(".git") or path.suffix.lower() in _SPEC_SUFFIXES
    )
    if looks_like_a_path:
        raise UsageError(f"{path}: no such spec file, folder or repository")
    return Target("idea", text.strip())


def read_spec_file(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise UsageError(f"{path}: cannot read the spec: {error.strerror}") from None
    if b"\0" in data[:8192]:
        raise UsageError(f"{path}: a binary file, not a text spec")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not UTF-8 text") from None
    if not text.strip():
        raise UsageError(f"{path}: the spec is empty")
    return text


def slug(text: str, words: int = 4) -> str:
    stop = {"a", "an", "the", "that", "which", "for", "of", "to", "and", "with", "by", "in"}
    parts = [w for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in stop]
    return "-".join(parts[:words]) or "project"


def check_output(out: Path) -> None:
    """`out` must be new or empty; an interactive session's own `.factory/` is allowed."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out}: exists and is not a folder")
    if out.is_dir():
        others = [p.name for p in out.iterdir() if p.name != FACTORY_DIR]
        if others:
            raise UsageError(f"{out}: exists and is not empty; choose another --out")


def clone(url: str, out: Path) -> Path:
    created = not out.exists()
    try:
        git.Repo.clone_from(url, out)
    except GitCommandError as error:
        if created:
            shutil.rmtree(out, ignore_errors=True)
        lines = [line.strip().strip("'") for line in str(error).splitlines()]
        detail = next(
            (line.split("fatal:", 1)[1].strip() for line in lines if "fatal:" in line),
            "git clone failed",
        )
        raise UsageError(f"cannot clone {url}: {detail}") from None
    return out


SCAFFOLD_TITLE = "Scaffold the project from its spec"


@dataclass(frozen=True)
class BuildPlan:
    """What a new project is built from: a spec, or an idea the Distiller makes one of."""

    spec: str = ""
    idea: str = ""


class ProjectNames(NamedTuple):
    package: str  # the Python package
    command: str  # its console script
    why: str = ""  # why it is not simply the folder's name


def project_names(folder: str) -> ProjectNames:
    """The package and command a new project in `folder` gets: the folder's name, unless
    that would shadow a command on this machine (`wc`) or a standard-library module."""
    base = re.sub(r"[^0-9a-zA-Z]+", "_", folder).strip("_").lower() or "project"
    if base[0].isdigit() or keyword.iskeyword(base):
        base = f"p_{base}"
    taken = _taken(base)
    if not taken:
        return ProjectNames(base, base.replace("_", "-"))
    for package in (f"py{base}", f"{base}_tool", f"{base}_app", f"{base}_project"):
        if not _taken(package):
            break
    return ProjectNames(package, package.replace("_", "-"), f"{base!r} is {taken}")


def _taken(package: str) -> str:
    """What already answers to this name, or "" when nothing does."""
    if package in sys.stdlib_module_names:
        return "a module of Python's standard library"
    for command in dict.fromkeys((package.replace("_", "-"), package)):
        found = shutil.which(command)
        if found:
            return f"already a command here ({found})"
    return ""


def scaffold_hypothesis(title: str, names: ProjectNames) -> Hypothesis:
    """The Builder's task for a new project: its files, named as the engine chose."""
    return Hypothesis(
        title=SCAFFOLD_TITLE,
        rationale=(
            f"Start '{title}' from its spec (docs/SPEC.md): the Python package "
            f"`{names.package}` with the console command `{names.command}`, a passing test, "
            "a README and CI."
        ),
        category="scaffold",
        source="focus",
        files=[
            "pyproject.toml",
            f"{names.package}/__init__.py",
            f"{names.package}/cli.py",
            "tests/",
            "README.md",
        ],
    )


def start(out: Path) -> None:
    """A new repository in `out` with an empty first commit: the base the Builder's scaffold
    is kept onto, as any experiment is."""
    out.mkdir(parents=True, exist_ok=True)
    repo = git.Repo.init(out, initial_branch="main")
    Store(out).ensure()
    Workspace(repo, "main").ensure_excluded()
    with repo.git.custom_environment(**FACTORY_ENV):
        repo.git.commit("--allow-empty", "--no-verify", "-m", f"Start {out.name} (factory build)")


def seed(store: Store, spec_text: str, idea: str = "") -> tuple[int, list[str]]:
    """Backlog items from the spec's features (the idea itself when it lists none); eval
    metrics into the config."""
    spec = parse_spec(spec_text)
    existing = {item.title.lower() for item in store.backlog()}
    items = backlog_items(spec)
    if not items and idea.strip():
        first = idea.strip().splitlines()[0].rstrip(".")
        title = first if len(first) <= 100 else first[:99].rstrip() + "…"
        detail = f"The idea the project was built from (the spec lists no features):\n{idea}"
        items = [(title, detail.strip())]
    added = 0
    for title, detail in items:
        if title.lower() not in existing:
            store.add_backlog_item(title, detail)
            added += 1
    metrics = eval_metrics(spec)
    if metrics:
        config = store.config()
        config.eval.metrics.update(metrics)
        data = config.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
        write_atomic(store.config_path, tomli_w.dumps(data))
    return added, sorted(metrics)


def unfinished(out: Path) -> bool:
    """`out` holds a build that stopped before its scaffold was kept (killed, or the
    Builder failed): the first commit only, which a new build may start from."""
    if not (out / ".git").is_dir() or set(p.name for p in out.iterdir()) - {".git", FACTORY_DIR}:
        return False
    try:
        repo = git.Repo(out)
        return repo.head.is_valid() and not repo.head.commit.parents and not repo.head.commit.tree
    except (git.InvalidGitRepositoryError, ValueError, GitCommandError):
        return False
