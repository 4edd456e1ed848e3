"""Secrets never reach a log: anything written to disk or shown passes through `redact`.

One function masks the known secret shapes (API keys and tokens of the common services,
AWS secret keys, private key blocks) and the values of environment variables whose names
look secret (`*KEY*`, `*TOKEN*`, `*SECRET*`, `*PASSWORD*`): experiment records, notes,
events, panes, history, commit messages.
"""

from __future__ import annotations

import functools
import os
import re

SECRET_PATTERNS = (
    r"sk-ant-[A-Za-z0-9_\-]{8,}",  # Anthropic
    r"sk-(?:proj-)?[A-Za-z0-9_\-]{20,}",  # OpenAI style
    r"gh[pousr]_[A-Za-z0-9]{20,}",  # GitHub tokens
    r"github_pat_[A-Za-z0-9_]{20,}",
    r"AKIA[0-9A-Z]{16}",  # AWS access key id
    r"(?i:aws_secret_access_key|aws_secret_key|secret_access_key)\s*[=:]\s*[\"']?"
    r"[A-Za-z0-9/+=]{30,}",  # AWS secret access key, with its name
    r"xox[baprs]-[A-Za-z0-9\-]{10,}",  # Slack
    r"AIza[0-9A-Za-z_\-]{35}",  # Google API key
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----(?:[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----)?",
)
SECRET = re.compile("|".join(f"(?:{pattern})" for pattern in SECRET_PATTERNS))
# Every secret shape above holds one of these: a line with none of them (most lines an agent
# prints) skips the pattern, which costs ten times as much. Lowercase: matched on lower().
SECRET_MARKS = (
    "sk-",
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
    "github_pat_",
    "akia",
    "secret",
    "xox",
    "aiza",
    "-----begin",
)
SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL", re.IGNORECASE)
MIN_VALUE = 8  # shorter values (a flag, a port) are not worth masking and would mask words


@functools.cache
def _environment_secrets() -> re.Pattern[str] | None:
    """The values of this process's environment variables whose names look secret."""
    values = sorted(
        {value for name, value in os.environ.items() if SECRET_NAME.search(name)} - {""},
        key=len,
        reverse=True,
    )
    values = [value for value in values if len(value) >= MIN_VALUE]
    return re.compile("|".join(re.escape(v) for v in values)) if values else None


def redact(text: str) -> str:
    """Replace every secret-looking token with a marker that keeps its kind visible."""
    if not text:
        return text
    lowered = text.lower()
    if any(mark in lowered for mark in SECRET_MARKS):
        text = SECRET.sub(lambda match: match.group(0)[:6] + "…[redacted]", text)
    environment = _environment_secrets()
    if environment is not None:
        text = environment.sub("[redacted]", text)
    return text


def has_secret(text: str) -> bool:
    return SECRET.search(text) is not None or redact(text) != text
