"""Keep credentials out of everything we print, log, publish or report.

Provides:
    redact(text): ``text`` with the user info of every URL (``https://user:token@host``
        -> ``https://***@host``) and the values of secret-bearing query
        parameters (``token=``, ``sig=``, ``X-Amz-Signature=``,
        ``access_token=``...) replaced by ``***``.
    redact_args(args): the same for each item of a command line.
    RedactingFilter: a :class:`logging.Filter` that redacts a record's
        message (with its arguments) before any handler sees it.
    install_log_redaction(): redact every log record this process creates.

Users are told to keep tokens out of URLs (``deploy/README.md``), but the
deployment guide once suggested ``https://user:token@...`` for ``repo`` and
``git_remote``, and Git prints the URL in its own error messages. So every
message that may hold a URL passes through :func:`redact`: CLI errors,
``GitError`` text (Git's stderr included), task logs, artifacts and state
messages. Redaction is by shape, not by knowing the secret, so it also
covers tokens we never saw (a credential helper's, a signed URL's).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from typing import Any

MASK = "***"

# scheme://user[:password]@host -- keep the scheme and the host, drop the user info.
_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>[^/\s@'\"<>]+)@")
# NOTE: names compared case-insensitively; covers S3/GCS/Azure signed URLs
# (X-Amz-Signature, X-Amz-Credential, X-Amz-Security-Token, X-Goog-Signature, sig)
# and OAuth-style tokens.
_SECRET_PARAMS = (
    "token",
    "access_token",
    "refresh_token",
    "id_token",
    "private_token",
    "api_key",
    "apikey",
    "key",
    "secret",
    "password",
    "passwd",
    "sig",
    "signature",
    "x-amz-signature",
    "x-amz-credential",
    "x-amz-security-token",
    "x-goog-signature",
    "x-goog-credential",
    "awsaccesskeyid",
)
_QUERY_SECRET = re.compile(
    r"(?P<lead>[?&;](?:" + "|".join(re.escape(p) for p in _SECRET_PARAMS) + r")=)"
    r"(?P<value>[^&#\s'\"<>]+)",
    re.IGNORECASE,
)
# A bare "Authorization: Bearer xyz" / "token xyz" header echoed by a tool.
_AUTH_HEADER = re.compile(
    r"(?P<lead>\bauthorization:\s*(?:basic|bearer|token)\s+)(?P<value>\S+)", re.IGNORECASE
)


def redact(text: str) -> str:
    """``text`` with URL user info and secret query values replaced by ``***``.

    Example:
        ``redact("https://me:tok@git.example/x.git?token=abc")`` ->
        ``"https://***@git.example/x.git?token=***"``.
    """
    if not text:
        return text
    text = _USERINFO.sub(lambda m: f"{m['scheme']}{MASK}@", text)
    text = _QUERY_SECRET.sub(lambda m: f"{m['lead']}{MASK}", text)
    return _AUTH_HEADER.sub(lambda m: f"{m['lead']}{MASK}", text)


def redact_args(args: Sequence[str]) -> list[str]:
    """Each item of a command line passed through :func:`redact`."""
    return [redact(arg) for arg in args]


class RedactingFilter(logging.Filter):
    """Redact each record's final message; attach it to a handler or a logger.

    The message is formatted once here (``msg % args``) so that a secret in
    an argument cannot slip past, then stored without arguments.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a malformed record: leave it to logging
            return True
        cleaned = redact(message)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        return True


_FILTER = RedactingFilter()


def install_log_redaction() -> None:
    """Redact every log record of this process as it is created (idempotent).

    A record factory rather than handler filters: it also covers records
    that Prefect ships to its API (task and flow run logs, ``log_prints``)
    and loggers created later, whatever handlers they reach.
    """
    previous = logging.getLogRecordFactory()
    if getattr(previous, "prefect_dvc_redacts", False):
        return
    logging.setLogRecordFactory(_RedactingFactory(previous))


class _RedactingFactory:
    """A log record factory that redacts what the wrapped factory makes."""

    prefect_dvc_redacts = True

    def __init__(self, wrapped: Callable[..., logging.LogRecord]) -> None:
        self.wrapped = wrapped

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self.wrapped(*args, **kwargs)
        _FILTER.filter(record)
        return record
