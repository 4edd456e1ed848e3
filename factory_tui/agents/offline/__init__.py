"""The offline runtime: every role done by real tools (ruff, pytest, coverage, git) with no
model and no network, so the whole loop runs on a fresh machine."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence

from factory_tui.engine.models import AgentUsage, Role

from ..base import AgentRequest, AgentRun, Emit
from ..contracts import Contract, ContractError, validate
from . import recipes
from .archivist import archive
from .builder import build
from .distiller import distill
from .failure_analyst import analyse
from .researcher import research
from .reviewer import review
from .strategist import LIMITS, strategize

ROLES: dict[Role, Callable[[AgentRequest, Emit], Awaitable[Contract]]] = {
    Role.RESEARCHER: research,
    Role.STRATEGIST: strategize,
    Role.BUILDER: build,
    Role.REVIEWER: review,
    Role.FAILURE_ANALYST: analyse,
    Role.ARCHIVIST: archive,
    Role.DISTILLER: distill,
}


class OfflineRuntime:
    name = "offline"
    limits = LIMITS

    def out_of_reach(self, requests: Sequence[str]) -> list[str]:
        return [text for text in requests if recipes.match_recipe(text) is None]

    async def run(self, request: AgentRequest, emit: Emit) -> AgentRun[Contract]:
        started = time.monotonic()
        role_fn = ROLES.get(request.role)
        if role_fn is None:
            return AgentRun(request.role, error=f"the offline runtime has no {request.role} role")
        try:
            output = validate(request.role, await role_fn(request, emit))
            error = None
        except FileNotFoundError as missing:
            output, error = None, f"{missing.filename or missing} is not installed"
        except ContractError as failure:
            output, error = None, str(failure)
        except Exception as failure:
            # A tool that broke (a timeout, a git error) fails this agent, not the run.
            output, error = None, f"{type(failure).__name__}: {failure}"
        usage = AgentUsage(duration_s=time.monotonic() - started, turns=1)
        return AgentRun(request.role, output=output, error=error, usage=usage)
