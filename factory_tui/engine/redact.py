"""Secrets never reach a log: anything written to disk or shown passes through `redact`."""

from __future__ import annotations

import re

SECRET_PATTERNS = (
    r"sk-ant-[A-Za-z0-9_\-]{8,}",  # Anthropic
    r"sk-(?:proj-)?[A-Za-z0-9_\-]{20,}",  # OpenAI style
    r"gh[pousr]_[A-Za-z0-9]{20,}",  # GitHub tokens
    r"github_pat_[A-Za-z0-9_]{20,}",
    r"AKIA[0-9A-Z]{16}",  # AWS access key id
    r"xox[baprs]-[A-Za-z0-9\-]{10,}",  # Slack
    r"AIza[0-9A-Za-z_\-]{35}",  # Google API key
)
SECRET = re.compile("|".join(f"(?:{pattern})" for pattern in SECRET_PATTERNS))


def redact(text: str) -> str:
    """Replace every secret-looking token with a marker that keeps its kind visible."""
    if not text:
        return text
    return SECRET.sub(lambda match: match.group(0)[:6] + "…[redacted]", text)


def has_secret(text: str) -> bool:
    return SECRET.search(text) is not None
