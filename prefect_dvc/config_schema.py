"""What DVC 3.67.1 accepts in ``.dvc/config``: sections, keys and value checks.

Provides:
    validate(sections): the first problem in a parsed config, as
        ``(section, key, message)``, or ``None`` when DVC would accept it.
    split_named(section): ``('remote', 'name')`` for ``remote "name"``, else
        ``(section, None)``.

The tables follow ``dvc/config_schema.py`` (``SCHEMA``, ``REMOTE_SCHEMAS``)
key for key, and the messages follow voluptuous' wording there: ``Bool``
is ``true``/``false`` in any case (not yes/no/1/0), ``checksum_jobs`` and
``jobs`` are integers of at least 1, ``cache.type`` is a comma list of
reflink/hardlink/symlink/copy, ``parsing.bool`` is store_true or
boolean_optional in any case. Unknown sections and keys are refused
("extra keys not allowed"), except under ``[feature]``, which DVC only warns
about. One deliberate difference: a ``memory://`` remote, which prefect-dvc
supports for tests and DVC refuses, is accepted with the common remote keys.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlparse

Check = Callable[[Any], str | None]
_NAMED = re.compile(r'^\s*(remote|machine|db)\s*"(.*)"\s*$')
CACHE_TYPES = ("reflink", "hardlink", "symlink", "copy")


def _str(value: Any) -> str | None:
    return None if isinstance(value, str) else "expected str"


def _bool(value: Any) -> str | None:
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return None
    return "expected true or false"


def _number(kind: type, low: float | None = None) -> Check:
    def check(value: Any) -> str | None:
        try:
            number = kind(value)
        except (TypeError, ValueError):
            return f"expected {kind.__name__}"
        if low is not None and number < low:
            return f"value must be at least {low:g}"
        return None

    return check


def _choice(*choices: str) -> Check:
    def check(value: Any) -> str | None:
        if isinstance(value, str) and value.lower() in choices:
            return None
        return f"expected one of {', '.join(choices)}"

    return check


def _bool_or_str(value: Any) -> str | None:
    return _str(value)


def _python_type(name: str) -> Check:
    """DVC's schema names a Python type (``bool``, ``int``) where a config value is a string.

    voluptuous then refuses every value read from the file: ``s3.cache_regions``
    and ``hdfs.replication`` in ``dvc/config_schema.py`` (checked against ``dvc``).
    """

    def check(value: Any) -> str | None:
        return f"expected {name}"

    return check


class _AnyKey(dict):  # type: ignore[type-arg]
    """A ``remote://`` remote's table: DVC's ``{str: object}`` accepts any key and value."""

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str)

    def __getitem__(self, key: str) -> Check:
        return lambda value: None


def _cache_type(value: Any) -> str | None:
    types = [t.strip() for t in value.split(",")] if isinstance(value, str) else value
    if not isinstance(types, list):
        return "expected a list of cache types"
    unsupported = [t for t in types if t not in CACHE_TYPES]
    return f"Unsupported cache type(s): {', '.join(unsupported)}" if unsupported else None


_INT1 = _number(int, 1)
_INT = _number(int)
_FLOAT0 = _number(float, 0)


def _keys(strs: str = "", bools: str = "", ints: str = "", **others: Check) -> dict[str, Check]:
    table: dict[str, Check] = dict.fromkeys(strs.split(), _str)
    table.update(dict.fromkeys(bools.split(), _bool))
    table.update(dict.fromkeys(ints.split(), _INT))
    table.update(others)
    return table


REMOTE_COMMON: Mapping[str, Check] = {
    "url": _str,
    "checksum_jobs": _INT1,
    "jobs": _INT1,
    "worktree": _bool,
    "no_traverse": _bool,
    "version_aware": _bool,
}
LOCAL_COMMON: Mapping[str, Check] = {
    "type": _cache_type,
    "protected": _bool,
    "shared": _choice("group"),
    "slow_link_warning": _bool,
    "verify": _bool,
}
_S3_STR = (
    "region profile credentialpath configpath endpointurl access_key_id secret_access_key"
    " session_token sse sse_kms_key_id sse_customer_algorithm sse_customer_key acl grant_read"
    " grant_read_acp grant_write_acp grant_full_control"
)
_HTTP: Mapping[str, Check] = {
    "auth": _choice("basic", "digest", "custom"),
    **dict.fromkeys(("custom_auth_header", "user", "password", "method"), _str),
    "ask_password": _bool,
    "ssl_verify": _bool_or_str,
    "connect_timeout": _FLOAT0,
    "read_timeout": _FLOAT0,
    "verify": _bool,
}
_WEBDAV: Mapping[str, Check] = {
    **_keys("user password token bearer_token_command custom_auth_header cert_path key_path"),
    "ask_password": _bool,
    "timeout": _INT,
    "ssl_verify": _bool_or_str,
    "verify": _bool,
}


REMOTE_SCHEMAS: Mapping[str, Mapping[str, Check]] = {
    "": {**LOCAL_COMMON, **REMOTE_COMMON},
    "memory": REMOTE_COMMON,
    "s3": {
        **_keys(
            _S3_STR,
            "listobjects use_ssl allow_anonymous_login verify",
            "read_timeout connect_timeout",
            ssl_verify=_bool_or_str,
            cache_regions=_python_type("bool"),
        ),
        **REMOTE_COMMON,
    },
    "gs": {
        **_keys("projectname credentialpath endpointurl", "verify allow_anonymous_login"),
        **REMOTE_COMMON,
    },
    "ssh": {
        **_keys(
            "user password passphrase keyfile",
            "ask_password ask_passphrase gss_auth allow_agent verify",
            "port timeout max_sessions",
            type=_cache_type,
        ),
        **REMOTE_COMMON,
    },
    "hdfs": {**_keys("user kerb_ticket", replication=_python_type("int")), **REMOTE_COMMON},
    "webhdfs": {
        **_keys(
            "kerberos_principal proxy_to token user password data_proxy_target",
            "kerberos use_https verify",
            ssl_verify=_bool_or_str,
        ),
        **REMOTE_COMMON,
    },
    "azure": {
        **_keys(
            "connection_string sas_token account_name account_key tenant_id client_id"
            " client_secret",
            "allow_anonymous_login exclude_environment_credential"
            " exclude_visual_studio_code_credential exclude_shared_token_cache_credential"
            " exclude_managed_identity_credential verify",
            "timeout read_timeout connection_timeout",
        ),
        **REMOTE_COMMON,
    },
    "oss": {**_keys("oss_key_id oss_key_secret oss_endpoint", "verify"), **REMOTE_COMMON},
    "gdrive": {
        **_keys(
            "profile gdrive_client_id gdrive_client_secret gdrive_user_credentials_file"
            " gdrive_service_account_user_email gdrive_service_account_json_file_path",
            "gdrive_use_service_account gdrive_trash_only gdrive_acknowledge_abuse verify",
        ),
        **REMOTE_COMMON,
    },
    "http": {**_HTTP, **REMOTE_COMMON},
    "https": {**_HTTP, **REMOTE_COMMON},
    "webdav": {**_WEBDAV, **REMOTE_COMMON},
    "webdavs": {**_WEBDAV, **REMOTE_COMMON},
    "remote": _AnyKey(),
}

SECTIONS: Mapping[str, Mapping[str, Check]] = {
    "core": {
        **_keys(
            "site_cache_dir",
            "interactive analytics hardlink_lock no_scm autostage experiments check_update",
            remote=_str,
            machine=_str,
            checksum_jobs=_INT1,
        ),
    },
    "cache": {**_keys("local s3 gs hdfs webhdfs ssh azure dir"), **LOCAL_COMMON},
    "state": {"dir": _str, "row_limit": _INT1, "row_cleanup_quota": _number(int, 0)},
    "index": {"dir": _str},
    "feature": {"machine": _bool},
    "plots": _keys("html_template out_dir", "auto_open"),
    "exp": _keys("code data models metrics params plots live git_remote", "auto_push"),
    "parsing": {
        "bool": _choice("store_true", "boolean_optional"),
        "list": _choice("nargs", "append"),
    },
    "hydra": _keys("config_dir config_module config_name plugins_path", "enabled"),
    "studio": _keys("token url repo_url", "offline"),
}
NAMED: Mapping[str, Mapping[str, Check]] = {
    "machine": {
        **_keys(
            "image ssh_private startup_script setup_script instance_type instance_gpu",
            "spot",
            "instance_hdd_size",
            spot_price=_number(float),
            cloud=_choice("aws", "azure"),
            region=_choice("us-west", "us-east", "eu-west", "eu-north"),
        ),
    },
    "db": _keys("url username password"),
}

Problem = tuple[str, str | None, str]


def split_named(section: str) -> tuple[str, str | None]:
    """``('remote', 'name')`` for a named section ``remote "name"``, else ``(section, None)``."""
    match = _NAMED.match(section)
    return (match[1], match[2]) if match else (section, None)


def _remote_schema(values: Mapping[str, Any]) -> tuple[Mapping[str, Check] | None, str]:
    if "url" not in values:
        return None, "expected 'url'"
    url = values["url"]
    if not isinstance(url, str):
        return None, "expected str for 'url'"
    parsed = urlparse(url)
    scheme = parsed.scheme if parsed.netloc else ""
    if scheme not in REMOTE_SCHEMAS:
        return None, f"Unsupported URL type {scheme}://"
    return REMOTE_SCHEMAS[scheme], ""


def _table(section: str, values: Mapping[str, Any]) -> tuple[Mapping[str, Check] | None, str]:
    kind, name = split_named(section)
    if name is None:
        if section in SECTIONS:
            return SECTIONS[section], ""
        return None, "extra keys not allowed"
    if kind == "remote":
        return _remote_schema(values)
    return NAMED[kind], ""


def validate(sections: Mapping[str, Any]) -> Problem | None:
    """The first problem DVC would report for ``sections`` (keys already lower-case), or ``None``.

    ``sections`` maps section names to their values (a nested mapping is a
    ``[[subsection]]``); a non-mapping at the top is a key outside any section.
    """
    for section, values in sections.items():
        if not isinstance(values, Mapping):
            return section, None, "extra keys not allowed (a key outside any section)"
        table, problem = _table(section, values)
        if table is None:
            return section, None, problem
        for key, value in values.items():
            if isinstance(value, Mapping) or (key not in table and section != "feature"):
                return section, key, "extra keys not allowed"
            message = table[key](value) if key in table else None
            if message is not None:
                return section, key, message
        if section == "hydra" and {"config_dir", "config_module"} <= values.keys():
            return section, "config_module", "config_dir and config_module are exclusive"
    return None
