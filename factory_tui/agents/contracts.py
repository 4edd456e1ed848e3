"""Each role's output contract: the JSON its final message must end with.

Every runtime's result is validated by these models, so the engine never sees an agent's
output it did not check.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from factory_tui.engine.models import Finding, Hypothesis, Review, Role
from factory_tui.engine.redact import redact
from factory_tui.engine.text import plain


class Contract(BaseModel):
    # Built on first use, not at import: a command pays only for the models it reads.
    model_config = ConfigDict(extra="ignore", defer_build=True)

    @model_validator(mode="before")
    @classmethod
    def _plain(cls, data: Any) -> Any:
        """Every string an agent returns, as plain text (no escape sequences) with every
        secret masked: what it says is stored and shown, never a key it saw."""
        return _plain_strings(data)


def _plain_strings(value: Any) -> Any:
    if isinstance(value, str):
        return redact(plain(value))
    if isinstance(value, dict):
        return {key: _plain_strings(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain_strings(item) for item in value]
    return value


class ResearcherOutput(Contract):
    summary: str
    findings: list[Finding] = Field(default_factory=list)


class StrategistOutput(Contract):
    hypotheses: list[Hypothesis]
    # Why there is nothing to try, when that is so (the runtime cannot do what was asked).
    note: str = ""


class BuilderOutput(Contract):
    summary: str
    files_changed: list[str] = Field(default_factory=list)
    commit_message: str


class ReviewerOutput(Review, Contract):
    pass


class Failure(Contract):
    name: str
    category: str
    cause: str


class FailureAnalystOutput(Contract):
    summary: str
    failures: list[Failure] = Field(default_factory=list)


class DistillerOutput(Contract):
    spec: str
    questions: list[str] = Field(default_factory=list)
    summary: str = ""


class ArchivistOutput(Contract):
    note: str
    lessons: list[str] = Field(default_factory=list)


CONTRACTS: dict[Role, type[Contract]] = {
    Role.RESEARCHER: ResearcherOutput,
    Role.STRATEGIST: StrategistOutput,
    Role.BUILDER: BuilderOutput,
    Role.REVIEWER: ReviewerOutput,
    Role.FAILURE_ANALYST: FailureAnalystOutput,
    Role.DISTILLER: DistillerOutput,
    Role.ARCHIVIST: ArchivistOutput,
}

_FENCED_JSON = re.compile(r"```(?:json)?\s*\n(.*?)\n?```", re.DOTALL)


class ContractError(ValueError):
    """The agent's final message has no valid JSON result for its role."""


def extract_json(text: str) -> dict[str, Any]:
    """The last fenced ```json block in `text` (or the text itself when it is bare JSON)."""
    blocks = _FENCED_JSON.findall(text)
    candidates = [*reversed(blocks), text.strip()]
    for candidate in candidates:
        try:
            value = json.loads(candidate)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            return value
    if blocks:
        raise ContractError("the ```json block is not a valid JSON object")
    raise ContractError("no ```json block found in the final message")


def validate(role: Role, data: dict[str, Any] | Contract) -> Contract:
    """`data` checked against the role's contract; raises ContractError in one line."""
    contract = CONTRACTS[role]
    if isinstance(data, contract):
        return data
    try:
        return contract.model_validate(data if isinstance(data, dict) else data.model_dump())
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "result"
        raise ContractError(f"{role.value} result: {where}: {first['msg']}") from None


def parse_result(role: Role, text: str) -> Contract:
    return validate(role, extract_json(text))


Output = TypeVar("Output", bound=Contract)


@dataclass(frozen=True)
class RoleContract(Generic[Output]):
    """A role with the type of what it returns: the CEO calls a role through one of these
    and gets `AgentRun[Output]` back, so no caller checks the type of an output itself."""

    role: Role
    output: type[Output]


RESEARCHER = RoleContract(Role.RESEARCHER, ResearcherOutput)
STRATEGIST = RoleContract(Role.STRATEGIST, StrategistOutput)
BUILDER = RoleContract(Role.BUILDER, BuilderOutput)
REVIEWER = RoleContract(Role.REVIEWER, ReviewerOutput)
FAILURE_ANALYST = RoleContract(Role.FAILURE_ANALYST, FailureAnalystOutput)
DISTILLER = RoleContract(Role.DISTILLER, DistillerOutput)
ARCHIVIST = RoleContract(Role.ARCHIVIST, ArchivistOutput)
