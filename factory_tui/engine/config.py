"""`.factory/config.toml`: validated by pydantic, written with tomli-w.

Every section forbids unknown keys, so a typo is an error naming the field and the file
rather than a setting silently ignored.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import UsageError


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AgentsConfig(Section):
    model: str | None = None
    max_turns: int = Field(default=30, ge=1)
    inactivity_timeout: float = Field(default=300.0, gt=0)
    wall_timeout: float = Field(default=1800.0, gt=0)
    retries: int = Field(default=2, ge=0)
    # The command runtime's argument template, e.g. "codex exec {prompt}".
    command: str | None = None


class EvalConfig(Section):
    min_delta: float = Field(default=0.005, ge=0)
    # The project's test command; detected from the project when unset.
    test_command: list[str] | None = None
    timeout: float = Field(default=600.0, gt=0)


class FactoryConfig(Section):
    runtime: Literal["offline", "claude", "command"] = "offline"
    approval: Literal["auto", "manual"] = "auto"
    agents: AgentsConfig = Field(default_factory=AgentsConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)


def load_config(path: Path) -> FactoryConfig:
    """Read the config file; a missing file means the defaults."""
    if not path.exists():
        return FactoryConfig()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise UsageError(f"{path}: cannot read config: {error}") from None
    try:
        return FactoryConfig.model_validate(data)
    except ValidationError as error:
        raise UsageError(f"{path}: invalid config: {_first_problem(error)}") from None


def _first_problem(error: ValidationError) -> str:
    problems = []
    for item in error.errors():
        field = ".".join(str(part) for part in item["loc"]) or "(top level)"
        problems.append(f"{field}: {item['msg']}")
    return "; ".join(problems)
