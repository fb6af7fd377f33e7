"""What to do about a remote's failure, in each remote kind's own option names.

Provides:
    credential_hints(scheme): the hints for missing and rejected credentials.
    address_options(scheme): the options that say where a remote lives.
    untrusted_hint(scheme): the hint for an unverifiable certificate or host key.
    TIMEOUTS: each kind's timeout options.

Every option named here is one of that kind's options in DVC's
``config_schema.REMOTE_SCHEMAS`` (``tests/storage/test_remote_hints.py`` checks
each kind against real DVC's schema): HTTP has no endpointurl, only s3 a region.
"""

from __future__ import annotations

from collections.abc import Mapping

# NOTE: the kinds whose DVC schema has ssl_verify (config_schema.REMOTE_SCHEMAS).
_SSL_VERIFY_KINDS = ("s3", "http", "https", "webdav", "webdavs", "webhdfs")

_CREDENTIAL_HINTS: Mapping[str, tuple[str, str]] = {
    # scheme: (no credentials, rejected credentials)
    "s3": (
        "Set access_key_id/secret_access_key with 'prefect-dvc remote modify --local', "
        "or an AWS profile or environment variables",
        "Check access_key_id/secret_access_key (.dvc/config.local) or the AWS profile",
    ),
    "gs": (
        "Set credentialpath (a service-account JSON) with 'prefect-dvc remote modify --local', "
        "or run 'gcloud auth application-default login'",
        "Check the remote's credentialpath (.dvc/config.local) or your gcloud login",
    ),
    "azure": (
        "Set connection_string, account_key or sas_token with "
        "'prefect-dvc remote modify --local', or sign in with 'az login'",
        "Check account_name with account_key, connection_string or sas_token (.dvc/config.local)",
    ),
    "ssh": (
        "Set user with password or keyfile with 'prefect-dvc remote modify --local'",
        "Check the remote's user, password or keyfile (.dvc/config.local)",
    ),
}
_HTTP_HINTS = (
    "Set user and password (or custom_auth_header) with 'prefect-dvc remote modify --local'",
    "Check the remote's user and password, or custom_auth_header (.dvc/config.local)",
)
# NOTE: each kind's own option names (DVC's config_schema.REMOTE_SCHEMAS); checked
# per kind in tests/storage/test_remote_hints.py.
_CREDENTIAL_HINTS_MORE: Mapping[str, tuple[str, str]] = {
    **dict.fromkeys(("http", "https", "webdav", "webdavs"), _HTTP_HINTS),
    "webhdfs": (
        "Set user and password, or token, with 'prefect-dvc remote modify --local'",
        "Check the remote's user and password, or token (.dvc/config.local)",
    ),
    "hdfs": (
        "Set user (and kerb_ticket for Kerberos) with 'prefect-dvc remote modify --local'",
        "Check the remote's user and kerb_ticket (.dvc/config.local)",
    ),
    "oss": (
        "Set oss_key_id/oss_key_secret with 'prefect-dvc remote modify --local'",
        "Check the remote's oss_key_id/oss_key_secret (.dvc/config.local)",
    ),
    "gdrive": (
        "Set gdrive_user_credentials_file or gdrive_service_account_json_file_path with "
        "'prefect-dvc remote modify --local'",
        "Check the remote's gdrive_user_credentials_file or "
        "gdrive_service_account_json_file_path (.dvc/config.local)",
    ),
}
_GENERIC_HINTS = (
    "Set the remote's credentials with 'prefect-dvc remote modify --local'",
    "Check the remote's credentials (.dvc/config.local)",
)
# NOTE: only these kinds have an option that moves the endpoint away from the URL's host.
_ENDPOINT_OPTIONS: Mapping[str, str] = {
    "s3": "endpointurl",
    "gs": "endpointurl",
    "oss": "oss_endpoint",
}
TIMEOUTS: Mapping[str, str] = {
    "s3": "connect_timeout/read_timeout",
    "http": "connect_timeout/read_timeout",
    "https": "connect_timeout/read_timeout",
    "azure": "timeout/read_timeout/connection_timeout",
    "ssh": "timeout",
    "webdav": "timeout",
    "webdavs": "timeout",
}


def credential_hints(scheme: str) -> tuple[str, str]:
    """``(hint when no credentials are found, hint when they are rejected)`` for kind ``scheme``."""
    return _CREDENTIAL_HINTS.get(scheme) or _CREDENTIAL_HINTS_MORE.get(scheme, _GENERIC_HINTS)


def address_options(scheme: str) -> str:
    """``"url and endpointurl"`` (s3, gs), ``"url and oss_endpoint"`` (oss), else ``"url"``.

    The options that say where a remote of kind ``scheme`` lives, by DVC's
    names (``config_schema.REMOTE_SCHEMAS``): HTTP, SSH, WebDAV... have none but url.
    """
    endpoint = _ENDPOINT_OPTIONS.get(scheme)
    return f"url and {endpoint}" if endpoint else "url"


def untrusted_hint(scheme: str) -> str:
    """What to do when the server's TLS certificate or SSH host key cannot be verified."""
    if scheme == "ssh":
        return "Add the server's host key to ~/.ssh/known_hosts (ssh-keyscan) and run again"
    if scheme in _SSL_VERIFY_KINDS:
        return (
            "Trust its CA with: prefect-dvc remote modify <name> ssl_verify <ca-bundle.pem> "
            "(or ssl_verify false)"
        )
    # NOTE: DVC's azure and gs remotes have no ssl_verify option; OpenSSL reads this.
    return "Add its CA to the trust store: SSL_CERT_FILE=<ca-bundle.pem> in the environment"
