"""DVC's repository configuration: ``.dvc/config`` and ``.dvc/config.local``.

Provides:
    RemoteConfig: one ``remote "name"`` section, with ``storage_options()`` giving
        the fsspec keyword arguments for it and ``safe_url`` for messages.
    DvcConfig: the merged view (``.local`` over the repo file) of remotes, the
        default remote, the cache dir and link types, and ``[parsing]`` options.
    load_config(root): read both files.
    add_remote, modify_remote, remove_remote, set_default_remote: edit them the
        way ``dvc remote ...`` does, byte for byte.
    CREDENTIAL_KEYS: remote options that are only ever written to ``config.local``.
    is_secret_option(key): whether an option's value must be masked when shown.
    redact_url(url): a URL without user info or query, for messages.

Why our own writer: DVC writes these files with configobj (4-space indented
keys, section names such as ``['remote "storage"']``, values with commas
quoted as ``"reflink,copy"``). ``configparser`` reads that fine but writes a
different dialect, so reading goes through ``configparser`` and writing
through :func:`format_config`, which reproduces configobj's output.
Comments in an edited file are not kept (DVC's writer keeps them).
"""

from __future__ import annotations

import configparser
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from prefect_dvc.errors import ConfigError
from prefect_dvc.yamlio import atomic_write

CONFIG = "config"
CONFIG_LOCAL = "config.local"
DEFAULT_CACHE_TYPES = ("reflink", "copy")
CREDENTIAL_KEYS = frozenset({"access_key_id", "secret_access_key", "session_token"})
_SECRET_HINT = re.compile(r"(secret|password|token|key_id|passphrase)", re.IGNORECASE)
_REMOTE_SECTION = re.compile(r'^remote\s+"(?P<name>[^"]+)"$')
_QUOTE_EDGES = " \r\n\v\t'\""

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
                raise ConfigError(
                    f"remote '{self.name}': option '{key}' is not supported for s3",
                    path=".dvc/config",
                    hint=f"Remove it with: prefect-dvc remote modify --unset {self.name} {key}",
                )
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
            "connect_timeout": 5,
            "retries": {"mode": "standard", "max_attempts": 2},
        }
        return result


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

    def remote(self, name: str | None = None) -> RemoteConfig:
        """The remote called ``name``, or the default remote.

        Raises:
            ConfigError: no such remote (the message lists the known ones),
                or no name given and no default set.
        """
        wanted = name or self.default_remote
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


Sections = dict[str, dict[str, str]]


def read_sections(path: Path) -> Sections:
    """The sections of one config file, names and values unquoted, in file order."""
    if not path.exists():
        return {}
    parser = configparser.ConfigParser(
        delimiters=("=",),
        comment_prefixes=("#", ";"),
        inline_comment_prefixes=None,
        interpolation=None,
        strict=False,
        default_section="\0no-default",
    )
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    try:
        parser.read_string(path.read_text(encoding="utf-8"), source=str(path))
    except configparser.Error as exc:
        line = getattr(exc, "lineno", None)
        raise ConfigError(
            f"cannot parse: {exc.__class__.__name__}",
            path=_display(path),
            line=line,
            hint="Fix the INI syntax (sections like [core], lines like 'key = value')",
        ) from None
    sections: Sections = {}
    for raw_name in parser.sections():
        name = _unquote(raw_name.strip())
        target = sections.setdefault(name, {})
        for key, value in parser.items(raw_name, raw=True):
            target[key] = _parse_value(value or "", path)
    return sections


def _unquote(text: str) -> str:
    for quote in ("'''", '"""', "'", '"'):
        if len(text) >= 2 * len(quote) and text.startswith(quote) and text.endswith(quote):
            return text[len(quote) : -len(quote)]
    return text


def _parse_value(raw: str, path: Path) -> str:
    """configobj value syntax: a quoted string, or text up to an inline ``#``."""
    raw = raw.strip()
    for quote in ("'''", '"""', "'", '"'):
        if raw.startswith(quote):
            end = raw.find(quote, len(quote))
            if end < 0:
                raise ConfigError(
                    f"unterminated quote in value {raw.split()[0]!r}...",
                    path=_display(path),
                    hint="Close the quote",
                )
            return raw[len(quote) : end]
    return raw.split("#", 1)[0].strip()


def _display(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


def merged_sections(root: Path) -> Sections:
    """``.dvc/config`` overlaid key by key with ``.dvc/config.local``."""
    merged = read_sections(root / ".dvc" / CONFIG)
    for name, values in read_sections(root / ".dvc" / CONFIG_LOCAL).items():
        merged.setdefault(name, {}).update(values)
    return merged


def _resolve_local(url: str, config_dir: Path) -> str:
    split = urlsplit(url)
    if len(split.scheme) > 1:
        return url
    return os.path.normpath(config_dir / url) if not os.path.isabs(url) else url


def load_config(root: Path) -> DvcConfig:
    """Read ``.dvc/config`` and ``.dvc/config.local`` under the repository ``root``.

    Raises:
        ConfigError: unparsable file, a remote without ``url``, a default remote
            that does not exist.
    """
    dvc_dir = root / ".dvc"
    sections = merged_sections(root)
    remotes = []
    for section, values in sections.items():
        match = _REMOTE_SECTION.match(section)
        if not match:
            continue
        name = match["name"]
        if "url" not in values:
            raise ConfigError(
                f"remote '{name}' has no url",
                path=".dvc/config",
                hint=f"Set one with: prefect-dvc remote modify {name} url <url>",
            )
        options = tuple((k, v) for k, v in values.items() if k != "url")
        remotes.append(RemoteConfig(name, _resolve_local(values["url"], dvc_dir), options))
    core, cache, parsing = (sections.get(s, {}) for s in ("core", "cache", "parsing"))
    default = core.get("remote") or None
    if default is not None and default not in {r.name for r in remotes}:
        raise ConfigError(
            f"the default remote '{default}' (core.remote) does not exist",
            path=".dvc/config",
            hint="Add it, or pick another with: prefect-dvc remote default <name>",
        )
    types = tuple(t.strip() for t in cache.get("type", "").split(",") if t.strip())
    cache_dir = Path(_resolve_local(cache["dir"], dvc_dir)) if cache.get("dir") else None
    return DvcConfig(
        root=root,
        remotes=tuple(remotes),
        default_remote=default,
        cache_dir=cache_dir or dvc_dir / "cache",
        cache_types=types or DEFAULT_CACHE_TYPES,
        parsing_bool=parsing.get("bool", "store_true"),
        parsing_list=parsing.get("list", "nargs"),
    )


# --------------------------------------------------------------------------- writing


def _quote(value: str) -> str:
    """Quote ``value`` as configobj does, so our files match DVC's byte for byte."""
    if "\n" in value:
        raise ConfigError(
            "a config value cannot span lines", hint="Remove the line break from the value"
        )
    if not value:
        return '""'
    plain = value[0] not in _QUOTE_EDGES and value[-1] not in _QUOTE_EDGES
    if plain and "," not in value and "#" not in value:
        return value
    if "'" in value and '"' in value:
        return f"'''{value}'''"
    return f"'{value}'" if '"' in value else f'"{value}"'


def _quote_section(name: str) -> str:
    if '"' in name or "'" in name or "," in name or "#" in name:
        return f"'{name}'" if '"' in name else f'"{name}"'
    return name


def format_config(sections: Sections) -> str:
    """The file text DVC writes for ``sections`` (empty sections are dropped).

    Plain sections come first in their order, then the named ``remote "x"``
    sections, as DVC orders them.
    """
    lines = []
    ordered = sorted(sections.items(), key=lambda item: bool(_REMOTE_SECTION.match(item[0])))
    for name, values in ordered:
        if not values:
            continue
        lines.append(f"[{_quote_section(name)}]")
        lines.extend(f"    {key} = {_quote(value)}" for key, value in values.items())
    return "".join(line + "\n" for line in lines)


def _write(path: Path, sections: Sections) -> None:
    atomic_write(path, format_config(sections))


def _section(name: str) -> str:
    return f'remote "{name}"'


def _check_name(name: str) -> None:
    if not name or '"' in name or "\n" in name or name != name.strip():
        raise ConfigError(
            f"invalid remote name {name!r}",
            path=".dvc/config",
            hint="Use a name without quotes, line breaks or surrounding spaces",
        )


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
    remote's whole section.

    Raises:
        ConfigError: the remote exists and ``force`` is false.
    """
    _check_name(name)
    path = root / ".dvc" / CONFIG
    sections = read_sections(path)
    if _section(name) in merged_sections(root) and not force:
        raise ConfigError(
            f"remote '{name}' already exists",
            path=".dvc/config",
            hint="Pass force=True (--force) to overwrite it, or pick another name",
        )
    if len(urlsplit(url).scheme) <= 1 and not os.path.isabs(url):
        absolute = os.path.abspath(os.path.join(cwd or root, url))
        url = os.path.relpath(absolute, root / ".dvc")
    sections[_section(name)] = {"url": url}
    if default:
        sections.setdefault("core", {})["remote"] = name
    _write(path, sections)


def modify_remote(
    root: Path, name: str, key: str, value: str = "", *, local: bool = False, unset: bool = False
) -> Path:
    """Set (or ``unset``) one option of a remote (``dvc remote modify``).

    Credentials (:data:`CREDENTIAL_KEYS`) always go to ``.dvc/config.local``,
    which Git ignores, even without ``local``; the returned path says which
    file was written so the CLI can tell the user.

    Raises:
        ConfigError: unknown remote (the message lists the known ones).
    """
    known = [m["name"] for s in merged_sections(root) if (m := _REMOTE_SECTION.match(s))]
    if name not in known:
        raise _unknown_remote(name, known)
    use_local = local or key in CREDENTIAL_KEYS
    path = root / ".dvc" / (CONFIG_LOCAL if use_local else CONFIG)
    sections = read_sections(path)
    values = sections.setdefault(_section(name), {})
    if unset:
        values.pop(key, None)
    else:
        values[key] = value
    _write(path, sections)
    return path


def remove_remote(root: Path, name: str) -> None:
    """Remove a remote from both files, and ``core.remote`` where it names it.

    Raises:
        ConfigError: unknown remote (the message lists the known ones).
    """
    known = [m["name"] for s in merged_sections(root) if (m := _REMOTE_SECTION.match(s))]
    if name not in known:
        raise _unknown_remote(name, known)
    for filename in (CONFIG, CONFIG_LOCAL):
        path = root / ".dvc" / filename
        sections = read_sections(path)
        changed = sections.pop(_section(name), None) is not None
        if sections.get("core", {}).get("remote") == name:
            del sections["core"]["remote"]
            changed = True
        if changed:
            _write(path, sections)


def set_default_remote(root: Path, name: str) -> None:
    """Make ``name`` the default remote (``core.remote`` in ``.dvc/config``).

    Raises:
        ConfigError: unknown remote (the message lists the known ones).
    """
    known = [m["name"] for s in merged_sections(root) if (m := _REMOTE_SECTION.match(s))]
    if name not in known:
        raise _unknown_remote(name, known)
    path = root / ".dvc" / CONFIG
    sections = read_sections(path)
    sections.setdefault("core", {})["remote"] = name
    _write(path, sections)


def is_secret_option(key: str) -> bool:
    """True for options whose values must never be printed."""
    return key in CREDENTIAL_KEYS or bool(_SECRET_HINT.search(key))
