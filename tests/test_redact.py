"""Secrets never reach a log: every known shape is masked, in any case, and ordinary output
passes through unchanged."""

from __future__ import annotations

import pytest

from factory_tui.engine.redact import redact

SHAPES = [
    "sk-ant-api03-abcdefghijklmnop",
    "sk-proj-abcdefghijklmnopqrstuvwxyz12",
    "ghp_abcdefghijklmnopqrstuvwxyz123456",
    "gho_abcdefghijklmnopqrstuvwxyz123456",
    "github_pat_abcdefghijklmnopqrstuvwxyz",
    "AKIAABCDEFGHIJKLMNOP",
    "AWS_SECRET_ACCESS_KEY=abcdefghijklmnopqrstuvwxyz0123456789ABCD",
    "aws_secret_key: 'abcdefghijklmnopqrstuvwxyz0123456789ABCD'",
    "xoxb-1234567890-abcdefghij",
    "AIzaSyA1234567890abcdefghijklmnopqrstuv",
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----",
]


@pytest.mark.parametrize("secret", SHAPES)
def test_every_known_shape_is_masked_wherever_it_sits(secret: str) -> None:
    line = f"the agent said: {secret} (done)"
    masked = redact(line)
    assert secret not in masked and "[redacted]" in masked
    assert masked.startswith("the agent said: ") and masked.endswith(" (done)")


@pytest.mark.parametrize(
    "line",
    [
        "researcher line 000123: compiling module_42.py, 3 warnings, ok",
        "a task-list: sk is not a key, nor is ghp without its underscore",
        '{"type":"agent_output","line":"tests 7/7 passing"}',
        "",
    ],
)
def test_ordinary_output_passes_unchanged(line: str) -> None:
    assert redact(line) == line
