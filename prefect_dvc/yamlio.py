"""YAML as DVC reads and writes it.

Provides:
    parse_yaml(text, path): YAML 1.2 "safe" values (what DVC's ruamel loader gives).
    load_yaml(path): the same from a file.
    dump_yaml(data): block-style text the way DVC writes ``dvc.lock`` and
        run-cache entries (``schema: '2.0'`` quoted, key order kept).
    atomic_write(path, data): temp file + rename, so readers never see half a file;
        an ``OSError`` becomes one :class:`WorkspaceWriteError` line naming the path.
    write_error(path, exc): that error, for writers that cannot use ``atomic_write``.

Why not PyYAML: it implements YAML 1.1, where ``yes``/``on`` are booleans,
``1e3`` is a string and ``010`` is octal. DVC uses ruamel (1.2), and the
values end up in ``dvc.lock`` and in run-cache keys, so they must agree.
"""

from __future__ import annotations

import copy
import errno
import io
import os
import stat
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from prefect_dvc import tmpnames
from prefect_dvc.errors import WorkspaceWriteError, YamlSyntaxError

_local = threading.local()


def _safe_loader() -> YAML:
    """One loader per thread: building a ``YAML`` object scans for plugins and
    registers resolvers, which cost more than parsing a small params file
    (``exp show`` parses thousands). Instances are not thread-safe, hence per thread.
    """
    # NOTE: pure=True keeps YAML 1.2 semantics; the C loader is 1.1.
    loader = getattr(_local, "loader", None)
    if loader is None:
        loader = _local.loader = YAML(typ="safe", pure=True)
    return loader


class TextMemo:
    """A bounded, thread-safe memo of values computed from a file's text.

    Keyed by the text itself, so it can never serve a stale value: one
    ``exp run`` of an 8-stage pipeline parsed the same ``dvc.yaml`` 7 times
    and the params files 14 times, ~0.5 s of pure-Python YAML parsing per
    command. Values are deep-copied on the way in and out, so callers may
    mutate what they get.
    """

    def __init__(self, size: int = 128, max_text: int = 1 << 20) -> None:
        self._size, self._max_text = size, max_text
        self._values: OrderedDict[tuple[str, str], Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, kind: str, text: str, compute: Callable[[], Any]) -> Any:
        """``compute()``'s value for ``text``, computed once per distinct text."""
        key = (kind, text)
        with self._lock:
            if key in self._values:
                self._values.move_to_end(key)
                return copy.deepcopy(self._values[key])
        value = compute()
        if len(text) <= self._max_text:
            with self._lock:
                self._values[key] = copy.deepcopy(value)
                while len(self._values) > self._size:
                    self._values.popitem(last=False)
        return value


MEMO = TextMemo()


def parse_yaml(text: str, path: str = "<string>") -> Any:
    """Parse ``text`` as YAML 1.2 into plain dicts, lists and scalars.

    A text parsed before in this process is not parsed again (:class:`TextMemo`).

    Raises:
        YamlSyntaxError: naming ``path`` and the line of the problem.
    """
    return MEMO.get("safe", text, lambda: _parse_yaml(text, path))


def _parse_yaml(text: str, path: str) -> Any:
    try:
        return _safe_loader().load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise YamlSyntaxError(
            f"invalid YAML: {problem}", path=path, line=line, hint="Fix the YAML syntax"
        ) from None
    except YAMLError as exc:
        raise YamlSyntaxError(
            f"invalid YAML: {exc}", path=path, hint="Fix the YAML syntax"
        ) from None


def load_yaml(path: Path, display: str | None = None) -> Any:
    """Read and parse the YAML file at ``path`` (``display`` names it in errors)."""
    return parse_yaml(path.read_text(encoding="utf-8"), display or str(path))


def _dumper() -> YAML:
    yaml = YAML(typ="rt")
    yaml.default_flow_style = False
    yaml.indent(mapping=2, sequence=2, offset=0)
    # NOTE: ruamel's default width (80) is what DVC writes with, long commands
    # included, so a lock file does not churn when DVC and we take turns.
    return yaml


def dump_yaml(data: Any) -> str:
    """Block-style YAML text with key order kept, as DVC writes lock data."""
    stream = io.StringIO()
    _dumper().dump(data, stream)
    return stream.getvalue()


def atomic_write(path: Path, data: str | bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder.

    The rename is atomic on POSIX, so a concurrent reader sees the old or the
    new content, never a mix, and a crash leaves the old file in place. The
    temp file names this host and process (``tmpnames``); leftovers of dead
    writers of the same file are removed first. An existing file keeps its
    permission bits; a new one gets ``0666 & ~umask``, as ``open()`` gives.

    Raises:
        WorkspaceWriteError: any ``OSError`` (a full disk, no permission, a
            read-only filesystem, a parent that is a file), as one line naming
            ``path``; the old file is left as it was.
    """
    raw = data.encode("utf-8") if isinstance(data, str) else data
    tmp = path.with_name(tmpnames.tmp_name(f".{path.name}"))
    try:
        _make_parent(path)
        tmpnames.sweep(path.parent, tmpnames.prefix_of(f".{path.name}"))
        mode = _mode_of(path)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            with os.fdopen(fd, "wb") as fobj:
                if mode is not None:
                    os.fchmod(fobj.fileno(), mode)
                fobj.write(raw)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise write_error(path, exc) from None


def _make_parent(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        # NOTE: mkdir says "File exists" when a parent is a file; say what is wrong.
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR)) from None


def _mode_of(path: Path) -> int | None:
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return None


_WRITE_HINTS = {
    errno.ENOSPC: "Free some disk space and run again",
    errno.EDQUOT: "Free some space within your disk quota and run again",
    errno.EACCES: "Check the permissions of the file and its folder",
    errno.EPERM: "Check the permissions of the file and its folder",
    errno.EROFS: "The filesystem is read-only; run from a writable checkout",
    errno.ENOTDIR: "A parent of this path is a file; move it out of the way",
}


def write_error(path: Path, exc: OSError) -> WorkspaceWriteError:
    """The one-line error for an ``OSError`` met while writing ``path``."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    return WorkspaceWriteError(
        f"cannot write it: {reason}",
        errno=exc.errno,
        path=str(path),
        hint=_WRITE_HINTS.get(exc.errno or 0, "Check the disk and the folder's permissions"),
    )
