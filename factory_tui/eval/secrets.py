"""Secrets in what an experiment adds: Yelp's detect-secrets (its keyword, known-service and
entropy plugins) beside the factory's own patterns. A finding names the file, the line and
the kind of secret, never the value."""

from __future__ import annotations

import functools
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from factory_tui.engine.redact import has_secret

from .diffs import added

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from contextlib import AbstractContextManager

    from detect_secrets.core.potential_secret import PotentialSecret
    from detect_secrets.settings import Settings

    # detect-secrets' scan of numbered lines of one file, and its default settings.
    LineScan = Callable[[list[tuple[int, str]], str], Iterator[PotentialSecret]]
    DefaultSettings = Callable[[], AbstractContextManager[Settings]]


@dataclass(frozen=True)
class SecretFinding:
    path: str
    line: int
    kind: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line} ({self.kind})"


@functools.cache
def _scanner() -> tuple[LineScan, DefaultSettings]:
    """detect-secrets' line scanner and its default settings, imported once when needed.
    Its line-based scan is used directly: its diff scan skips files not on disk."""
    from detect_secrets.core.scan import _process_line_based_plugins
    from detect_secrets.settings import default_settings

    return _process_line_based_plugins, default_settings


def scan_lines(path: str, lines: list[tuple[int, str]]) -> list[SecretFinding]:
    """The secrets among numbered lines of one file."""
    process, default_settings = _scanner()
    with default_settings():
        found = {
            SecretFinding(path, secret.line_number, secret.type) for secret in process(lines, path)
        }
    found |= {SecretFinding(path, n, "secret pattern") for n, text in lines if has_secret(text)}
    return sorted(found, key=lambda f: (f.path, f.line, f.kind))


def scan_diff(diff: str) -> list[SecretFinding]:
    """Every added line of a diff that holds a secret."""
    files: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for path, number, text in added(diff):
        files[path].append((number, text))
    return [finding for path, lines in files.items() for finding in scan_lines(path, lines)]
