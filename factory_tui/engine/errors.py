"""Errors the user can cause or must act on. The CLI prints them in one line."""

from __future__ import annotations


class FactoryError(Exception):
    """An error with a one-line message for the user and the exit status to end with."""

    exit_code = 1


class UsageError(FactoryError):
    """Bad input: a path, a repository state or a config the run cannot start from."""

    exit_code = 2


class AgentError(FactoryError):
    """An agent failed: it crashed, timed out, or its result broke the role's contract."""
