"""DVC's repository configuration: ``.dvc/config`` and ``.dvc/config.local``.

Provides:
    RemoteConfig: one ``remote "name"`` section, with ``storage_options()`` giving
        the fsspec keyword arguments for it and ``safe_url`` for messages.
    DvcConfig: the merged view (``.local`` over the repo file) of remotes, the
        default remote, the cache dir and link types, and ``[parsing]`` options.
    load_config(root): read both files and check them as DVC does.
    check_config(root): refuse unknown sections/keys and invalid values.
    add_remote, modify_remote, remove_remote, set_default_remote: edit them the
        way ``dvc remote ...`` does, byte for byte, keeping the user's comments.
    read_sections, format_config: one file's sections; the text DVC writes.
    CREDENTIAL_KEYS: remote options that are only ever written to ``config.local``.
    is_secret_option(key): whether an option's value must be masked when shown.
    redact_url(url): a URL without user info or query, for messages.

Files are read and written with configobj, DVC's own library
(``config_file.py``), and checked against DVC 3.67.1's schema
(``config_schema.py``). Only the repository levels are read: prefect-dvc
does not read DVC's global or system config files.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from prefect_dvc.config_file import (
    Sections,
    Value,
    config_problem,
    edit_sections,
    format_config,
    line_of,
    read_sections,
)

__all__ = [
    "CONFIG",
    "CONFIG_LOCAL",
    "CREDENTIAL_KEYS",
    "DEFAULT_CACHE_TYPES",
    "DvcConfig",
    "RemoteConfig",
    "add_remote",
    "check_config",
    "format_config",
    "is_secret_option",
    "load_config",
    "merged_sections",
    "modify_remote",
    "read_sections",
    "redact_url",
    "remove_remote",
    "set_default_remote",
]
from prefect_dvc.config_schema import split_named, validate
from prefect_dvc.errors import ConfigError

CONFIG = "config"
CONFIG_LOCAL = "config.local"
DEFAULT_CACHE_TYPES = ("reflink", "copy")
# NOTE: every remote kind's credential options (dvc/config_schema.py REMOTE_SCHEMAS).
CREDENTIAL_KEYS = frozenset(
    {
        "access_key_id",
        "secret_access_key",
        "session_token",
        "sse_customer_key",
        "password",
        "passphrase",
        "token",
        "sas_token",
        "account_key",
        "connection_string",
        "client_secret",
        "oss_key_id",
        "oss_key_secret",
        "gdrive_client_secret",
    }
)
_SECRET_HINT = re.compile(
    r"(secret|password|token|key_id|passphrase|account_key|connection_string|customer_key)",
    re.IGNORECASE,
)

# NOTE: DVC remote option -> (fsspec argument, nested under client_kwargs?).
_S3_OPTIONS: Mapping[str, tuple[str, bool]] = {
    "endpointurl": ("endpoint_url", True),
    "region": ("region_name", True),
    "profile": ("profile", False),
    "access_key_id": ("key", False),
    "secret_access_key": ("secret", False),
    "session_token": ("token", False),
}
_S3_IGNORED = frozenset({"url", "ssl_verify", "listobjects", "use_ssl"})
# NOTE: seconds; botocore's own defaults (60 s each, retried) make an endpoint that
# accepts connections but never answers block a command for minutes.
DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_READ_TIMEOUT = 6.0


@dataclass(frozen=True, repr=False)
class RemoteConfig:
    """One DVC remote.

    ``url`` is as DVC resolves it: a relative local path is made absolute
    against the ``.dvc/`` folder that holds the config file. ``options`` keeps
    every other key of the section in file order.
    """

    name: str
    url: str
    options: tuple[tuple[str, str], ...] = ()

    @property
    def scheme(self) -> str:
        """``s3``, ``memory``, ``file`` (local paths too), ..."""
        split = urlsplit(self.url)
        return split.scheme if len(split.scheme) > 1 else "file"

    @property
    def safe_url(self) -> str:
        """The URL without user info or query, safe to print."""
        return redact_url(self.url)

    def __repr__(self) -> str:
        # NOTE: never show option values: they include credentials.
        keys = [k for k, _ in self.options]
        return f"RemoteConfig(name={self.name!r}, url={self.safe_url!r}, options={keys!r})"

    def option(self, key: str) -> str | None:
        return dict(self.options).get(key)

    def storage_options(self) -> dict[str, Any]:
        """fsspec keyword arguments for this remote (DVC option names translated).

        Raises:
            ConfigError: for a remote type or option we cannot translate.
        """
        opts = dict(self.options)
        if self.scheme in ("file", "memory"):
            return {}
        if self.scheme != "s3":
            raise ConfigError(
                f"remote '{self.name}' ({self.safe_url}) uses '{self.scheme}://', "
                "which prefect-dvc does not support yet",
                path=".dvc/config",
                hint="Use a local path or an s3:// remote",
            )
        result: dict[str, Any] = {}
        client: dict[str, Any] = {}
        for key, value in opts.items():
            if key in _S3_IGNORED:
                continue
            if key not in _S3_OPTIONS:
                # NOTE: options are validated once, when written (config_schema);
                # one DVC accepts but we do not translate must not break commands.
                continue
            target, nested = _S3_OPTIONS[key]
            (client if nested else result)[target] = value
        verify = opts.get("ssl_verify", "")
        if verify.lower() == "false":
            client["verify"] = False
        elif verify and verify.lower() != "true":
            client["verify"] = verify  # a CA bundle path
        if client:
            result["client_kwargs"] = client
        # NOTE: botocore's defaults (60 s connect timeout, 5 legacy retries) make an
        # unreachable endpoint hang for a long time; fail within seconds instead.
        result["config_kwargs"] = {
            "connect_timeout": _seconds(opts.get("connect_timeout"), DEFAULT_CONNECT_TIMEOUT),
            "read_timeout": _seconds(opts.get("read_timeout"), DEFAULT_READ_TIMEOUT),
            # NOTE: total_max_attempts counts the first try; max_attempts would add one.
            "retries": {"mode": "standard", "total_max_attempts": 2},
        }
        return result


def _seconds(value: str | None, default: float) -> float:
    """A timeout option's seconds (DVC's ``connect_timeout``/``read_timeout``), or ``default``.

    The value was checked as a number >= 0 when written (``config_schema``);
    0 keeps the default rather than meaning "wait forever".
    """
    try:
        seconds = float(value) if value is not None else default
    except ValueError:
        return default
    return seconds if seconds > 0 else default


@dataclass(frozen=True)
class DvcConfig:
    """The merged repository config (``config.local`` wins key by key)."""

    root: Path
    remotes: tuple[RemoteConfig, ...] = ()
    default_remote: str | None = None
    cache_dir: Path | None = None
    cache_types: tuple[str, ...] = DEFAULT_CACHE_TYPES
    parsing_bool: str = "store_true"
    parsing_list: str = "nargs"
    # NOTE: `cache.shared = group` (the only value DVC accepts): group-writable cache.
    cache_shared: bool = False

    def remote(self, name: str | None = None) -> RemoteConfig:
        """The remote called ``name``, or the default remote.

        Raises:
            ConfigError: no such remote (the message lists the known ones),
                or no name given and no default set.
        """
        wanted = (name or self.default_remote or "").lower() or None
        if wanted is None:
            raise ConfigError(
                "no remote given and no default remote is set",
                path=".dvc/config",
                hint="Pass a remote name, or set one with: prefect-dvc remote default <name>",
            )
        for remote in self.remotes:
            if remote.name == wanted:
                return remote
        raise _unknown_remote(wanted, [r.name for r in self.remotes])


def _unknown_remote(name: str, known: list[str]) -> ConfigError:
    listing = ", ".join(f"'{n}'" for n in known) if known else "none"
    return ConfigError(
        f"remote '{name}' does not exist (known remotes: {listing})",
        path=".dvc/config",
        hint="Check the name, or add it with: prefect-dvc remote add <name> <url>",
    )


def redact_url(url: str) -> str:
    """``url`` without ``user:password@`` and without a query string."""
    split = urlsplit(url)
    if len(split.scheme) <= 1:
        return url
    host = split.netloc.rsplit("@", 1)[-1]
    return urlunsplit((split.scheme, host, split.path, "", ""))


# --------------------------------------------------------------------------- reading


def merged_sections(root: Path) -> Sections:
    """``.dvc/config`` overlaid key by key with ``.dvc/config.local``."""
    merged = read_sections(root / ".dvc" / CONFIG)
    for name, values in read_sections(root / ".dvc" / CONFIG_LOCAL).items():
        merged.setdefault(name, {}).update(values)
    return merged


def check_config(root: Path, sections: Sections | None = None) -> None:
    """Refuse what DVC refuses in the merged config (``config_schema.py``).

    Raises:
        ConfigError: naming the file and line of the first unknown section or
            key, or invalid value, as ``dvc`` would refuse it.
    """
    problem = validate(merged_sections(root) if sections is None else sections)
    if problem is None:
        return
    section, key, message = problem
    kind, name = split_named(section)
    if kind == "remote" and key is None and message == "expected 'url'":
        raise ConfigError(
            f"remote '{name}' has no url",
            path=".dvc/config",
            line=line_of(root / ".dvc" / CONFIG, section),
            hint=f"Set one with: prefect-dvc remote modify {name} url <url>",
        )
    local = root / ".dvc" / CONFIG_LOCAL
    in_local = (
        key in read_sections(local).get(section, {}) if key else section in read_sections(local)
    )
    raise config_problem(local if in_local else root / ".dvc" / CONFIG, section, key, message)


def _resolve_local(url: str, config_dir: Path) -> str:
    split = urlsplit(url)
    if len(split.scheme) > 1:
        return url
    return os.path.normpath(config_dir / url) if not os.path.isabs(url) else url


def _text(value: Value) -> str:
    return ",".join(value) if isinstance(value, list) else value


def load_config(root: Path) -> DvcConfig:
    """Read ``.dvc/config`` and ``.dvc/config.local`` under the repository ``root``.

    Section names and keys are lower-case, as DVC reads them; values keep
    their case except those DVC lower-cases (``core.remote``, ``parsing.*``).

    Raises:
        ConfigError: unparsable file, an unknown section or key or an invalid
            value (file and line named), a default remote that does not exist.
    """
    dvc_dir = root / ".dvc"
    sections = merged_sections(root)
    check_config(root, sections)
    remotes = []
    for section, values in sections.items():
        kind, name = split_named(section)
        if kind != "remote" or name is None:
            continue
        options = tuple((k, _text(v)) for k, v in values.items() if k != "url")
        url = _resolve_local(_text(values["url"]), dvc_dir)
        remotes.append(RemoteConfig(name, url, options))
    core, cache, parsing = (sections.get(s, {}) for s in ("core", "cache", "parsing"))
    default = _text(core.get("remote", "")).lower() or None
    if default is not None and default not in {r.name for r in remotes}:
        raise ConfigError(
            f"the default remote '{default}' (core.remote) does not exist",
            path=".dvc/config",
            hint="Add it, or pick another with: prefect-dvc remote default <name>",
        )
    types = tuple(t.strip() for t in _text(cache.get("type", "")).split(",") if t.strip())
    cache_dir = Path(_resolve_local(_text(cache["dir"]), dvc_dir)) if cache.get("dir") else None
    return DvcConfig(
        root=root,
        remotes=tuple(remotes),
        default_remote=default,
        cache_dir=cache_dir or dvc_dir / "cache",
        cache_types=types or DEFAULT_CACHE_TYPES,
        parsing_bool=_text(parsing.get("bool", "store_true")).lower(),
        parsing_list=_text(parsing.get("list", "nargs")).lower(),
        cache_shared=_text(cache.get("shared", "")).lower() == "group",
    )


# --------------------------------------------------------------------------- writing


def _section(name: str) -> str:
    return f'remote "{name}"'


def _check_name(name: str) -> None:
    if not name or '"' in name or "\n" in name or name != name.strip():
        raise ConfigError(
            f"invalid remote name {name!r}",
            path=".dvc/config",
            hint="Use a name without quotes, line breaks or surrounding spaces",
        )


def _check_value(value: str) -> None:
    if "\n" in value or "\r" in value:
        raise ConfigError(
            "a config value cannot span lines", hint="Remove the line break from the value"
        )


def _known_remotes(root: Path) -> list[str]:
    return [n for s in merged_sections(root) if (n := split_named(s)[1]) is not None]


def _edit(root: Path, filename: str, change: Callable[[Sections], None]) -> None:
    """Apply ``change`` to one file, only if the merged result stays valid (as ``dvc`` does)."""
    files = {f: read_sections(root / ".dvc" / f) for f in (CONFIG, CONFIG_LOCAL)}
    change(files[filename])
    merged: Sections = {}
    for sections in files.values():
        for name, values in sections.items():
            merged.setdefault(name, {}).update(values)
    if (problem := validate(merged)) is not None:
        section, key, message = problem
        where = f"'{key}' in [{section}]" if key else f"[{section}]"
        raise ConfigError(
            f"{where}: {message}", path=f".dvc/{filename}", hint="Nothing was changed"
        )

    def apply(sections: Sections) -> Sections:
        change(sections)
        return sections

    edit_sections(root / ".dvc" / filename, apply)


def add_remote(
    root: Path,
    name: str,
    url: str,
    *,
    default: bool = False,
    force: bool = False,
    cwd: Path | None = None,
) -> None:
    """Add ``remote "name"`` with ``url`` to ``.dvc/config`` (``dvc remote add``).

    A relative local path is taken relative to ``cwd`` (default: ``root``) and
    stored relative to ``.dvc/``, as DVC does. ``force`` replaces an existing
    remote's whole section. Comments elsewhere in the file are kept.

    Raises:
        ConfigError: the remote exists and ``force`` is false; an invalid url.
    """
    _check_name(name)
    _check_value(url)
    name = name.lower()  # NOTE: DVC lower-cases remote names (config keys) everywhere
    if _section(name) in merged_sections(root) and not force:
        raise ConfigError(
            f"remote '{name}' already exists",
            path=".dvc/config",
            hint="Pass -f/--force to overwrite it, or pick another name",
        )
    if len(urlsplit(url).scheme) <= 1 and not os.path.isabs(url):
        absolute = os.path.abspath(os.path.join(cwd or root, url))
        url = os.path.relpath(absolute, root / ".dvc")

    def change(sections: Sections) -> None:
        sections[_section(name)] = {"url": url}
        if default:
            sections.setdefault("core", {})["remote"] = name

    _edit(root, CONFIG, change)


def modify_remote(
    root: Path, name: str, key: str, value: str = "", *, local: bool = False, unset: bool = False
) -> Path:
    """Set (or ``unset``) one option of a remote (``dvc remote modify``).

    Credentials (:data:`CREDENTIAL_KEYS`) always go to ``.dvc/config.local``,
    which Git ignores, even without ``local``; the returned path says which
    file was written so the CLI can tell the user. Unsetting a credential
    without ``local`` removes it from both files.

    Raises:
        ConfigError: unknown remote (the message lists the known ones); an
            option or value DVC does not accept for that remote's type.
    """
    known = _known_remotes(root)
    name = name.lower()
    if name not in known:
        raise _unknown_remote(name, known)
    _check_value(value)
    secret = key.lower() in CREDENTIAL_KEYS
    use_local = local or secret
    filename = CONFIG_LOCAL if use_local else CONFIG

    def change(sections: Sections) -> None:
        values = sections.setdefault(_section(name), {})
        if unset:
            values.pop(key.lower(), None)
        else:
            values[key.lower()] = value

    if unset and secret and not local and key.lower() in _remote_keys(root, CONFIG, name):
        # NOTE: a credential kept in .dvc/config (as some repositories do) goes too.
        _edit(root, CONFIG, change)
    _edit(root, filename, change)
    return root / ".dvc" / filename


def _remote_keys(root: Path, filename: str, name: str) -> set[str]:
    return set(read_sections(root / ".dvc" / filename).get(_section(name), {}))


def remove_remote(root: Path, name: str) -> None:
    """Remove a remote from both files, and ``core.remote`` where it names it.

    Raises:
        ConfigError: unknown remote (the message lists the known ones).
    """
    known = _known_remotes(root)
    name = name.lower()
    if name not in known:
        raise _unknown_remote(name, known)
    for filename in (CONFIG, CONFIG_LOCAL):
        path = root / ".dvc" / filename
        sections = read_sections(path)
        if _section(name) not in sections and sections.get("core", {}).get("remote") != name:
            continue

        def change(sections: Sections) -> Sections:
            sections.pop(_section(name), None)
            if sections.get("core", {}).get("remote") == name:
                del sections["core"]["remote"]
            return sections

        edit_sections(path, change)


def set_default_remote(root: Path, name: str) -> None:
    """Make ``name`` the default remote (``core.remote`` in ``.dvc/config``).

    Raises:
        ConfigError: unknown remote (the message lists the known ones).
    """
    known = _known_remotes(root)
    name = name.lower()
    if name not in known:
        raise _unknown_remote(name, known)

    def change(sections: Sections) -> None:
        sections.setdefault("core", {})["remote"] = name

    _edit(root, CONFIG, change)


def unset_default_remote(root: Path) -> None:
    """Remove ``core.remote`` from ``.dvc/config`` (``dvc remote default --unset``).

    As DVC, an emptied ``[core]`` section goes too, and nothing is said when
    no default was set.
    """

    def change(sections: Sections) -> None:
        core = sections.get("core", {})
        core.pop("remote", None)
        if "core" in sections and not core:
            del sections["core"]

    _edit(root, CONFIG, change)


def is_secret_option(key: str) -> bool:
    """True for options whose values must never be printed."""
    return key in CREDENTIAL_KEYS or bool(_SECRET_HINT.search(key))
