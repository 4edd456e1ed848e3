"""Build mode: from an idea, a spec file or a git repository to a project the factory improves.

An idea becomes a spec through the Distiller; a spec file is read; a git URL or path is
cloned. A new project is then scaffolded by the Builder in a fresh git repository, the
spec's features become backlog items (with its acceptance criteria) and its eval metrics
project dimensions; improvement cycles take it from there.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import git
import tomli_w
from git.exc import GitCommandError

from factory_tui.agents.base import AgentContext, AgentRequest, OutputKind, Runtime
from factory_tui.agents.contracts import BuilderOutput, DistillerOutput
from factory_tui.agents.offline.recipes import SCAFFOLD_TITLE

from .errors import UsageError
from .models import Hypothesis, Role
from .spec import backlog_items, eval_metrics, parse_spec
from .store import FACTORY_DIR, Store, write_atomic
from .workspace import FACTORY_ENV, Workspace

Emit = Callable[[str, OutputKind], None]
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


async def run_role(runtime: Runtime, role: Role, cwd: Path, context: AgentContext, emit: Emit):
    result = await runtime.run(AgentRequest(role=role, cwd=cwd, context=context), emit)
    if not result.ok:
        raise UsageError(f"the {role.title} failed: {result.error}")
    return result.output


async def distill(runtime: Runtime, idea: str, cwd: Path, emit: Emit) -> str:
    output = await run_role(runtime, Role.DISTILLER, cwd, AgentContext(idea=idea), emit)
    assert isinstance(output, DistillerOutput)
    return output.spec


async def scaffold(out: Path, spec_text: str, runtime: Runtime, emit: Emit) -> str:
    """A new git repository in `out`, scaffolded by the Builder and committed."""
    out.mkdir(parents=True, exist_ok=True)
    repo = git.Repo.init(out, initial_branch="main")
    store = Store(out)
    store.ensure()
    Workspace(repo, "main").ensure_excluded()
    write_atomic(store.spec_path, spec_text)
    title = parse_spec(spec_text).title
    hypothesis = Hypothesis(
        title=SCAFFOLD_TITLE,
        rationale=f"Start '{title}' from its spec.",
        category="scaffold",
        source="focus",
    )
    output = await run_role(
        runtime, Role.BUILDER, out, AgentContext(spec=spec_text, hypothesis=hypothesis), emit
    )
    assert isinstance(output, BuilderOutput)
    repo.git.add("--all")
    with repo.git.custom_environment(**FACTORY_ENV):
        repo.git.commit("--allow-empty", "-m", f"Scaffold {title} from its spec (factory build)")
    return repo.head.commit.hexsha


def seed(out: Path, spec_text: str) -> tuple[int, list[str]]:
    """Backlog items from the spec's features; eval metrics into the config."""
    store = Store(out)
    spec = parse_spec(spec_text)
    existing = {item.title.lower() for item in store.backlog()}
    added = 0
    for title, detail in backlog_items(spec):
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
