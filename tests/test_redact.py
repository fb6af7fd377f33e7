"""Credentials are cut out of URLs by shape, wherever the text comes from."""

from __future__ import annotations

import logging

import pytest

from prefect_dvc.errors import GitError
from prefect_dvc.redact import MASK, install_log_redaction, redact

CASES = [
    ("https://user:tok3n@github.com/o/r.git", "https://***@github.com/o/r.git"),
    ("https://tok3n@github.com/o/r.git", "https://***@github.com/o/r.git"),
    ("ssh://git:pw@host:22/r.git", "ssh://***@host:22/r.git"),
    ("push to 'https://a:b@h/x' failed", "push to 'https://***@h/x' failed"),
    ("s3://b/k?X-Amz-Signature=abc123&X-Amz-Credential=AK%2F1", None),
    ("https://h/x?token=tok3n&ok=1", "https://h/x?token=***&ok=1"),
    ("https://h/x?a=1&access_token=tok3n", "https://h/x?a=1&access_token=***"),
    ("https://acct.blob.core.windows.net/c/b?sv=1&sig=tok3n%3D", None),
    ("Authorization: Bearer tok3n", "Authorization: Bearer ***"),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_redact(text: str, expected: str | None) -> None:
    out = redact(text)
    assert "tok3n" not in out and "abc123" not in out and "AK%2F1" not in out
    assert MASK in out
    if expected is not None:
        assert out == expected


@pytest.mark.parametrize(
    "text",
    ["git@github.com:o/r.git", "https://github.com/o/r.git", "see foo@bar.com", "file:///srv/x"],
)
def test_nothing_secret_is_left_alone(text: str) -> None:
    assert redact(text) == text


def test_errors_carry_no_credentials() -> None:
    err = GitError("cannot push to 'https://u:tok3n@h/x.git'", hint="check https://u:tok3n@h")
    assert "tok3n" not in str(err) and "tok3n" not in err.msg and "tok3n" not in str(err.hint)


def test_log_records_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    install_log_redaction()
    install_log_redaction()  # idempotent: one wrapper only
    logger = logging.getLogger("prefect_dvc.test")
    with caplog.at_level(logging.INFO):
        logger.info("pushing to %s", "https://u:tok3n@h/x.git")
        logger.info("plain %d", 3)
    assert [r.getMessage() for r in caplog.records] == ["pushing to https://***@h/x.git", "plain 3"]
