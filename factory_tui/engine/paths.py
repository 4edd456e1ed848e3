"""Path patterns in the config (`modifiable`, `protected`, research's `fixed`), matched one
way everywhere: pathspec, with .gitignore's rules.

So `data/` is any folder named data, `eval/score.py` is that file from the project's root,
`*.csv` is any CSV file, and `/data/` anchors a folder to the root.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import lru_cache

from pathspec import GitIgnoreSpec


@lru_cache(maxsize=64)
def _spec(patterns: tuple[str, ...]) -> GitIgnoreSpec:
    return GitIgnoreSpec.from_lines(patterns)


def matches(path: str, patterns: Iterable[str]) -> bool:
    """Whether a project-relative path is among the patterns."""
    return _spec(tuple(patterns)).match_file(path)


def matcher(patterns: Iterable[str]) -> Callable[[str], bool]:
    """`matches` with the patterns fixed: for filtering many paths."""
    spec = _spec(tuple(patterns))
    return spec.match_file
