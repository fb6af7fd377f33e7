"""``.dvc`` files: the single-stage files ``dvc add`` and ``dvc import`` write.

Provides:
    DVC_SUFFIX: ``.dvc``.
    TrackedOut / DvcFile: one file, read (frozen dataclasses).
    find_dvcfiles(root): every ``.dvc`` file of the repository, as DVC's index sees them.
    load_dvcfile(root, repo_path): read and check one file.
    out_entry(...): one ``outs``/``deps`` entry in DVC 3's key order.
    format_dvcfile(data, previous): the file's text, keeping the comments and
        unknown keys of ``previous`` as DVC does on update.

DVC's format (``SINGLE_STAGE_SCHEMA`` in ``dvc/schema.py``; ``Output.dumpd``
in ``dvc/output.py`` for the key order) as ``dvc add`` 3.67.1 writes it::

    outs:
    - md5: 95d52c1885829a148dd85435676e7335.dir
      size: 8
      nfiles: 5
      hash: md5
      path: d

Hash fields come first, then the file's meta (``size, nfiles, isexec``),
then ``hash: md5`` (absent in a DVC 2 file: its ``md5`` is the legacy
``md5-dos2unix`` value), then ``path`` (relative to the file's folder and its
``wdir``), then the out's flags. An import adds the stage ``md5``,
``frozen: true`` and ``deps`` before ``outs``.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from prefect_dvc.errors import PrefectDvcError, SchemaError
from prefect_dvc.ignore import rules_for
from prefect_dvc.yamlio import _dumper, dump_yaml, load_yaml

DVC_SUFFIX = ".dvc"
LEGACY_HASH = "md5-dos2unix"

_TOP_KEYS = ("md5", "frozen", "locked", "wdir", "deps", "outs", "meta", "always_changed", "desc")
_ENTRY_KEYS = frozenset(
    {
        "path", "md5", "etag", "checksum", "hash", "size", "nfiles", "isexec", "version_id",
        "cloud", "files", "fs_config", "desc", "type", "labels", "meta", "cache", "remote",
        "push", "persist", "metric", "plot", "repo", "db", "dataset",
    }
)  # fmt: skip
_FLAG_ORDER = ("desc", "type", "labels", "meta", "cache", "metric", "plot", "persist", "remote")


@dataclass(frozen=True)
class TrackedOut:
    """One ``outs`` (or ``deps``) entry of a ``.dvc`` file.

    Attributes:
        path: as written, relative to the file's folder joined with ``wdir``
            (or a URL / outside path for an import's dep).
        repo_path: POSIX path relative to the repository root; ``None`` when
            the path lies outside the repository or is a URL.
        md5: the recorded hash (``….dir`` for a directory), ``None`` when absent.
        hash_name: ``"md5"`` (DVC 3, ``hash: md5``) or ``"md5-dos2unix"`` (DVC 2).
        size / nfiles / isexec: the recorded meta.
        cache / push / persist / remote: the out's flags (DVC's defaults).
        raw: the entry as read, for keys this dataclass does not model.
    """

    path: str
    repo_path: str | None
    md5: str | None
    hash_name: str
    size: int | None = None
    nfiles: int | None = None
    isexec: bool = False
    cache: bool = True
    push: bool = True
    persist: bool = False
    remote: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_dir(self) -> bool:
        return bool(self.md5) and str(self.md5).endswith(".dir")

    @property
    def is_legacy(self) -> bool:
        return self.hash_name == LEGACY_HASH


@dataclass(frozen=True)
class DvcFile:
    """One ``.dvc`` file, read.

    Attributes:
        repo_path: the file's POSIX path relative to the repository root.
        wdir: the folder its entries' paths are relative to, POSIX, relative
            to the root (``""`` for the root).
        outs / deps: its entries; ``deps`` is empty unless it is an import.
        md5: the stage md5 DVC writes for imports (``None`` for ``dvc add``).
        frozen: ``frozen: true`` (or DVC 1's ``locked``): never refreshed by repro.
        data: the whole file as read (plain dicts).
    """

    repo_path: str
    wdir: str
    outs: tuple[TrackedOut, ...]
    deps: tuple[TrackedOut, ...] = ()
    md5: str | None = None
    frozen: bool = False
    data: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_import(self) -> bool:
        """An ``import-url`` or ``import`` file (DVC: a data source with deps)."""
        return bool(self.deps)

    @property
    def is_repo_import(self) -> bool:
        """A ``dvc import`` from a Git repository (its dep carries ``repo:``)."""
        return any("repo" in dep.raw for dep in self.deps)


def find_dvcfiles(root: Path, skip: Collection[str] = ()) -> list[str]:
    """Every ``.dvc`` file of the repository at ``root``: sorted POSIX paths relative to it.

    Walks as DVC's index does (``Index.from_repo`` over the repo filesystem):
    ``.dvcignore``d files and folders are skipped, ``.git``/``.dvc`` are never
    entered, nor is a folder holding its own ``.git`` or ``.dvc`` (a nested
    repository has an index of its own). A file named exactly ``.dvc`` is not
    a ``.dvc`` file. Folders named in ``skip`` (POSIX, repo-relative: the
    outs of stages, which may hold many files) are not entered.
    """
    top = Path(os.path.abspath(root))
    rules = rules_for(top, top)
    found: list[str] = []
    stack: list[tuple[Path, str, Any]] = [(top, "", rules)]
    while stack:
        folder, prefix, here = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            rel = prefix + entry.name
            is_dir = entry.is_dir(follow_symlinks=False)
            if here is not None and here.is_ignored(rel, is_dir):
                continue
            if is_dir:
                sub = Path(entry.path)
                if rel in skip or (sub / ".git").exists() or (sub / ".dvc").is_dir():
                    continue
                stack.append((sub, rel + "/", here.descend(rel) if here else None))
            elif entry.name.endswith(DVC_SUFFIX) and entry.name != DVC_SUFFIX:
                found.append(rel)
    return sorted(found)


def tracked_paths(root: Path, skip: Collection[str] = ()) -> dict[str, str]:
    """The outs of every ``.dvc`` file: ``{out repo path: .dvc file}``.

    A ``.dvc`` file that cannot be read is left out here (the commands that
    use it report it); ``skip`` is passed to :func:`find_dvcfiles`.
    """
    result: dict[str, str] = {}
    for path in find_dvcfiles(root, skip):
        try:
            dvcfile = load_dvcfile(root, path)
        except (PrefectDvcError, OSError):
            continue
        for out in dvcfile.outs:
            if out.repo_path is not None:
                result.setdefault(out.repo_path, path)
    return result


def is_dvcfile_name(name: str) -> bool:
    """True for a ``.dvc`` file name (DVC's ``is_valid_filename`` less ``dvc.yaml``)."""
    base = posixpath.basename(name)
    return base.endswith(DVC_SUFFIX) and base != DVC_SUFFIX


def load_dvcfile(root: Path, repo_path: str) -> DvcFile:
    """Read the ``.dvc`` file at ``repo_path`` (POSIX, relative to ``root``).

    Raises:
        YamlSyntaxError: not YAML (file and line named).
        SchemaError: not a ``.dvc`` file DVC 3 accepts: an unknown top-level
            or entry key, an entry without ``path``, ``outs``/``deps`` not a
            list of mappings (file named; DVC's ``SINGLE_STAGE_SCHEMA``).
        OSError: the file cannot be read.
    """
    data = load_yaml(root / repo_path, repo_path)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise _schema(repo_path, "expected a mapping at the top level")
    for key in data:
        if key not in _TOP_KEYS:
            raise _schema(repo_path, f"extra keys not allowed @ data['{key}']")
    wdir_value = data.get("wdir") or "."
    if not isinstance(wdir_value, str):
        raise _schema(repo_path, "expected str for dictionary value @ data['wdir']")
    folder = posixpath.dirname(repo_path)
    wdir = posixpath.normpath(posixpath.join(folder, wdir_value))
    wdir = "" if wdir == "." else wdir
    outs = tuple(_entries(repo_path, data, "outs", wdir))
    deps = tuple(_entries(repo_path, data, "deps", wdir))
    md5 = data.get("md5")
    return DvcFile(
        repo_path=repo_path,
        wdir=wdir,
        outs=outs,
        deps=deps,
        md5=str(md5) if md5 else None,
        frozen=bool(data.get("frozen") or data.get("locked")),
        data=data,
    )


def _schema(repo_path: str, what: str) -> SchemaError:
    return SchemaError(
        what, path=repo_path, hint="Fix the file, or recreate it with 'prefect-dvc add'"
    )


def _entries(repo_path: str, data: Mapping[str, Any], key: str, wdir: str) -> Iterator[TrackedOut]:
    items = data.get(key) or []
    if not isinstance(items, list):
        raise _schema(repo_path, f"expected a list @ data['{key}']")
    for index, item in enumerate(items):
        where = f"data['{key}'][{index}]"
        if not isinstance(item, dict):
            raise _schema(repo_path, f"expected a dictionary @ {where}")
        unknown = sorted(str(k) for k in item if k not in _ENTRY_KEYS)
        if unknown:
            raise _schema(repo_path, f"extra keys not allowed @ {where}['{unknown[0]}']")
        path = item.get("path")
        if not isinstance(path, str) or not path:
            raise _schema(repo_path, f"required key not provided @ {where}['path']")
        yield _tracked(item, path, wdir)


def _tracked(item: Mapping[str, Any], path: str, wdir: str) -> TrackedOut:
    md5 = item.get("md5")
    size, nfiles = item.get("size"), item.get("nfiles")
    return TrackedOut(
        path=path,
        repo_path=_repo_path(path, wdir),
        md5=str(md5).lower() if md5 else None,
        hash_name="md5" if item.get("hash") == "md5" else LEGACY_HASH,
        size=int(size) if isinstance(size, int) else None,
        nfiles=int(nfiles) if isinstance(nfiles, int) else None,
        isexec=item.get("isexec") is True,
        cache=item.get("cache", True) is not False,
        push=item.get("push", True) is not False,
        persist=item.get("persist") is True,
        remote=item.get("remote") if isinstance(item.get("remote"), str) else None,
        raw=dict(item),
    )


def _repo_path(path: str, wdir: str) -> str | None:
    if "://" in path or posixpath.isabs(path) or os.path.isabs(path):
        return None
    joined = posixpath.normpath(posixpath.join(wdir, path.replace(os.sep, "/")))
    if joined == ".." or joined.startswith("../"):
        return None
    return joined


def out_entry(
    path: str,
    md5: str | None,
    size: int | None,
    *,
    nfiles: int | None = None,
    isexec: bool = False,
    legacy: bool = False,
    flags: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One entry in ``Output.dumpd`` order: ``md5, size[, nfiles][, isexec], hash, path``.

    ``legacy`` writes a DVC 2 entry (no ``hash: md5``). ``flags`` holds the
    out's other keys (``desc, type, labels, meta, cache, metric, plot,
    persist, remote, push``); they follow ``path`` in DVC's order, with the
    defaults (``cache: true``, ``push: true``) left out as DVC leaves them out.
    """
    entry: dict[str, Any] = {}
    if md5:
        entry["md5"] = md5
    if size is not None:
        entry["size"] = size
    if nfiles is not None:
        entry["nfiles"] = nfiles
    if isexec:
        entry["isexec"] = True
    if not legacy:
        entry["hash"] = "md5"
    entry["path"] = path
    flags = dict(flags or {})
    for key in _FLAG_ORDER:
        value = flags.get(key)
        if key == "cache":
            if value is False:
                entry["cache"] = False
        elif value not in (None, False, "", [], {}):
            entry[key] = value
    if flags.get("push") is False:
        entry["push"] = False
    return entry


def format_dvcfile(data: Mapping[str, Any], previous: str | None = None) -> str:
    """The text of a ``.dvc`` file holding ``data`` (top-level keys in DVC's order).

    With ``previous`` (the file's current text), its comments and layout are
    kept and only what changed is rewritten, as DVC's
    ``to_single_stage_file`` does (``apply_diff`` on a round-trip parse).
    """
    if previous is None:
        return dump_yaml(dict(data))
    import io

    dumper = _dumper()
    try:
        saved = dumper.load(previous)
    except Exception:  # an unreadable old file is simply replaced
        return dump_yaml(dict(data))
    if not isinstance(saved, CommentedMap):
        return dump_yaml(dict(data))
    _apply_diff(data, saved)
    stream = io.StringIO()
    dumper.dump(saved, stream)
    return stream.getvalue()


def _apply_diff(src: Any, dest: Any) -> None:
    """Make ``dest`` (a round-trip YAML node) equal ``src`` in place, keeping comments."""
    if isinstance(src, Mapping) and isinstance(dest, CommentedMap):
        for key in [k for k in dest if k not in src]:
            del dest[key]
        for key, value in src.items():
            if key in dest and _same_kind(value, dest[key]):
                _apply_diff(value, dest[key])
                if not isinstance(value, Mapping | list):
                    dest[key] = value
            else:
                dest[key] = value
    elif isinstance(src, Sequence) and not isinstance(src, str) and isinstance(dest, CommentedSeq):
        if len(src) != len(dest):
            dest[:] = list(src)
            return
        for i, value in enumerate(src):
            if _same_kind(value, dest[i]) and isinstance(value, Mapping | list):
                _apply_diff(value, dest[i])
            else:
                dest[i] = value


def _same_kind(a: Any, b: Any) -> bool:
    if isinstance(a, Mapping):
        return isinstance(b, CommentedMap)
    if isinstance(a, list):
        return isinstance(b, CommentedSeq)
    return not isinstance(b, CommentedMap | CommentedSeq)
