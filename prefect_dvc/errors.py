"""The one exception tree of prefect-dvc.

Every error a user can cause is a :class:`PrefectDvcError`. The CLI prints
``str(error)`` as one line and exits with ``error.exit_code``; nothing else
is shown unless ``-v`` asks for the traceback. So each message names *where*
(file, line, stage, URL) and *what to do*, and the structured parts are kept
as attributes for programs.

Tree::

    PrefectDvcError
    ├── ConfigError              .dvc/config, remotes, command-line options
    ├── DvcYamlError             a dvc.yaml that cannot be read or is invalid
    │   ├── YamlSyntaxError      not YAML at all
    │   ├── SchemaError          unknown key, wrong type, missing cmd
    │   └── InterpolationError   ${...}, vars, foreach, matrix
    ├── ParamsError              a params file or key that is missing or unreadable
    ├── PipelineError            graph: cycle, shared or overlapping outs, paths outside the repo
    │   ├── UnsafePathError      a path that must never be deleted or written (.git, the root...)
    │   └── TargetNotFoundError  a target naming no dvc.yaml, stage or out (DVC's words)
    ├── PlotError                a plot definition, data file or template that cannot be used
    ├── StageError               a stage could not run to completion
    │   ├── StageFailedError     the command exited non-zero
    │   │   └── StageStoppedError  stopped by SIGINT/SIGTERM while its command ran
    │   ├── MissingOutputError   the command did not produce a declared out
    │   └── CheckpointError      a checkpoint signal that cannot be recorded or resumed
    ├── StorageError             cache and remotes
    │   ├── CorruptObjectError   an object whose bytes do not match its hash
    │   ├── MissingObjectError   an object the lock file needs is in no store
    │   ├── RemoteError          a remote that cannot be reached or used
    │   ├── WorkspaceWriteError  a file we write (dvc.lock, .gitignore...) cannot be written
    │   ├── GcRefusedError       gc will not delete: unreadable lock file, or not confirmed
    │   └── UnsavedChangesError  checkout/pull would overwrite files that are in no cache
    ├── GitError                 repository state, refs and experiments
    │   ├── ExperimentExistsError
    │   └── ExperimentNotFoundError
    ├── LockError                the repository or a path is in use by another process
    └── ArtifactError            an artifact name, version or stage that names nothing

All classes keep their constructor arguments so they survive pickling, which
Prefect needs when a task fails in another thread or process.
"""

from __future__ import annotations

from typing import Any

from prefect_dvc.redact import redact


class PrefectDvcError(Exception):
    """Root of every error prefect-dvc raises on purpose.

    Args:
        msg: what went wrong, without the location prefix.
        path: the file the error is about, relative to the repository where possible.
        line: 1-based line in ``path``.
        stage: the stage name (as in dvc.lock: ``train``, ``fe@small``).
        hint: what the user should do about it.
    """

    exit_code: int = 1

    def __init__(
        self,
        msg: str,
        *,
        path: str | None = None,
        line: int | None = None,
        stage: str | None = None,
        hint: str | None = None,
    ) -> None:
        assert msg, "an error needs a message"
        self.msg = redact(msg)
        self.path = path
        self.line = line
        self.stage = stage
        self.hint = redact(hint) if hint else hint
        super().__init__(self._format())

    def _format(self) -> str:
        where = ""
        if self.path:
            where = self.path if self.line is None else f"{self.path}:{self.line}"
            where += ": "
        if self.stage:
            where += f"stage '{self.stage}': "
        text = f"{where}{self.msg.rstrip('.')}."
        if self.hint:
            text += f" {self.hint.rstrip('.')}."
        # NOTE: messages quote URLs and Git's stderr; never their credentials.
        return redact(" ".join(text.split("\n")))

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            _rebuild,
            (
                type(self),
                self.msg,
                {"path": self.path, "line": self.line, "stage": self.stage, "hint": self.hint},
                self.__dict__,
            ),
        )


def _rebuild(
    cls: type[PrefectDvcError], msg: str, kwargs: dict[str, Any], state: dict[str, Any]
) -> PrefectDvcError:
    err = PrefectDvcError.__new__(cls)
    PrefectDvcError.__init__(err, msg, **kwargs)
    err.__dict__.update(state)
    return err


class ConfigError(PrefectDvcError):
    """``.dvc/config`` or a command-line option is wrong."""


class DvcYamlError(PrefectDvcError):
    """A ``dvc.yaml`` cannot be loaded."""


class YamlSyntaxError(DvcYamlError):
    """The file is not valid YAML."""


class SchemaError(DvcYamlError):
    """The YAML does not follow DVC 3's schema."""


class InterpolationError(DvcYamlError):
    """``${...}``, ``vars``, ``foreach`` or ``matrix`` cannot be resolved."""


class ParamsError(PrefectDvcError):
    """A params file or key is missing or unreadable."""


class PipelineError(PrefectDvcError):
    """The stage graph is invalid: a cycle, shared or overlapping outs, a path outside."""


class UnsafePathError(PipelineError):
    """A path that may never be deleted, replaced or written (``prefect_dvc/safety.py``).

    The repository root or anything outside it, ``.git``/``.dvc`` (any case)
    and what is inside them, a pipeline file, or a path whose folders reach
    outside through a symlink.
    """


class TargetNotFoundError(PipelineError):
    """A target names no pipeline file, stage or out; the message is DVC's own text.

    DVC's ``StageFileDoesNotExistError``, ``StageNotFound`` and
    ``NoOutputOrStageError`` (``dvc/stage/exceptions.py``), kept word for word
    (no location prefix, no added full stop) so scripts matching them carry over.
    """

    def _format(self) -> str:
        return self.msg


class PlotError(PrefectDvcError):
    """A plot cannot be rendered: missing data file, unknown column or template."""


class StageError(PrefectDvcError):
    """A stage could not run to completion."""


class StageFailedError(StageError):
    """The stage command exited non-zero.

    Args:
        returncode: the command's exit status (negative: killed by that signal).
        tail: the last lines the command printed.
    """

    def __init__(self, msg: str, *, returncode: int, tail: str = "", **kwargs: Any) -> None:
        self.returncode = returncode
        self.tail = tail
        super().__init__(msg, **kwargs)


class MissingOutputError(StageError):
    """The command finished but a declared out does not exist."""


class CheckpointError(StageError):
    """A checkpoint signal that cannot be recorded, or a checkpoint that cannot be resumed."""


class StageStoppedError(StageFailedError):
    """The stage command was killed because the run was asked to stop (SIGINT/SIGTERM).

    Not the command's fault, so no "fix the command" hint.
    """


class StorageError(PrefectDvcError):
    """The cache or a remote cannot be used."""


class CorruptObjectError(StorageError):
    """An object's bytes do not hash to its name."""


class MissingObjectError(StorageError):
    """An object needed for a restore is in no store."""


class RemoteError(StorageError):
    """A remote cannot be reached, or refuses what we ask of it."""


class WorkspaceWriteError(StorageError):
    """A file cannot be written (a full disk, no permission, a read-only filesystem).

    Args:
        errno: the ``OSError``'s errno (``errno.ENOSPC``...), or None.
    """

    def __init__(self, msg: str, *, errno: int | None = None, **kwargs: Any) -> None:
        self.errno = errno
        super().__init__(msg, **kwargs)


class GitError(PrefectDvcError):
    """The Git repository is not in a state we can work with."""


class ExperimentExistsError(GitError):
    """An experiment of that name already exists for the baseline."""


class ExperimentNotFoundError(GitError):
    """No experiment, checkpoint or revision matches the name given."""


class LockError(PrefectDvcError):
    """The repository lock or a path's read/write lock is held by another process.

    Args:
        holder: ``"PID <pid>: <command>"`` of the process in the way ("" if unknown).
    """

    def __init__(self, msg: str, *, holder: str = "", **kwargs: Any) -> None:
        self.holder = holder
        super().__init__(msg, **kwargs)


class GcRefusedError(StorageError):
    """``gc`` deletes nothing: a kept revision's file is unreadable, or it was not confirmed."""


class UnsavedChangesError(StorageError):
    """A checkout would replace or delete workspace files whose content is not cached.

    DVC 3's "Can't remove the following unsaved files without confirmation"
    (``dvc/repo/checkout.py::_check_can_delete``); ``--force`` overrides.

    Args:
        paths: repo paths of the unsaved files, sorted.
    """

    def __init__(self, msg: str, *, paths: tuple[str, ...] = (), **kwargs: Any) -> None:
        self.paths = paths
        super().__init__(msg, **kwargs)


class ArtifactError(PrefectDvcError):
    """``artifacts get``: no such artifact, version or stage, or an output already there."""


class ImportSourceError(PrefectDvcError):
    """The source of ``import-url``/``import``/``update`` cannot be used.

    A URL of a scheme prefect-dvc does not read, a source that does not exist
    or cannot be reached, a repository or revision that cannot be read, or a
    path that repository does not track. Nothing is written when it is raised.

    Args:
        url: the URL, path or repository as the user gave it.
    """

    def __init__(self, msg: str, *, url: str = "", **kwargs: Any) -> None:
        self.url = url
        super().__init__(msg, **kwargs)


class TrackedDataError(PrefectDvcError):
    """``add``/``commit``/``move``/``remove`` refuse a path, in DVC's words (``tracked/``).

    The message is DVC's text as it is, final punctuation included (DVC's
    multi-line messages joined into one line), so scripts matching DVC's
    errors match ours.
    """

    def _format(self) -> str:
        text = self.msg if not self.hint else f"{self.msg} {self.hint}"
        return redact(" ".join(text.split("\n")))
