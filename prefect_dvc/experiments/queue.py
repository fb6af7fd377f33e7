"""The experiment queue: ``exp run --queue``, ``--run-all``, ``queue status/remove/logs``.

Provides:
    QueuedExp: one recorded experiment (name, baseline, overrides, targets, state).
    Queue: entries as JSON files under ``.dvc/tmp/prefect-dvc/queue``, their
        logs beside them; ``plan`` (validate a batch, write nothing), ``add``,
        ``entries``, ``remove``, ``log``, ``run_all``.
    kill_entries(queue, names, force): ``queue kill``.
    clean_finished(queue): ``exp clean``.

Each queued experiment runs in its own temporary clone of the repository at
its baseline, so parallel experiments never see each other's workspace.
The clone gets the one input set of every away-run
(``experiments/inputs.py``: tracked changes, untracked-not-ignored files,
``-C/--copy-paths``, DVC-tracked data from the shared cache) and runs
``prefect-dvc exp run`` as a child process whose output goes to the
entry's log. On success the experiment ref is
fetched back into the main repository; a failure is recorded with its log
and does not stop the other entries.

Everything about an entry is checked when it is queued (name free among the
baseline's experiments *and* the queue, every ``-S`` key present), so a
queue never fails later on a typo. The children get the environment the
caller passes to ``run_all``; the CLI uses it to point every child at one
Prefect API instead of letting each start its own temporary server.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import psutil

from prefect_dvc.errors import ExperimentExistsError, ExperimentNotFoundError, GitError
from prefect_dvc.experiments.claims import Claims
from prefect_dvc.experiments.git import Git
from prefect_dvc.experiments.inputs import check_copy_paths, place_inputs
from prefect_dvc.experiments.names import generate_name
from prefect_dvc.experiments.overrides import apply_overrides, parse_override
from prefect_dvc.experiments.refs import ExpRef, list_exp_refs, validate_name
from prefect_dvc.locks import cache_reader, repo_lock
from prefect_dvc.repo import RepoPaths
from prefect_dvc.runrecord import ProcessId, RunRecord, read_records, record_run, write_record
from prefect_dvc.tmpnames import temp_dir
from prefect_dvc.yamlio import atomic_write


@dataclass(frozen=True)
class QueuedExp:
    """One queued experiment; ``state`` is queued, running, success or failed."""

    id: str
    name: str
    baseline: str
    set_params: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()
    created: float = field(default_factory=time.time)
    state: str = "queued"
    message: str = ""
    commit: str = ""
    force: bool = False
    run_cache: bool = True
    copy_paths: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, text: str) -> QueuedExp:
        known = {f.name for f in fields(cls)}
        data = {k: v for k, v in json.loads(text).items() if k in known}
        data["set_params"] = tuple(data.get("set_params") or ())
        data["targets"] = tuple(data.get("targets") or ())
        data["copy_paths"] = tuple(data.get("copy_paths") or ())
        return cls(**data)


class Queue:
    """The queue of one repository."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.folder = RepoPaths(root).own_tmp / "queue"
        self.claims = Claims(self.folder, root, self._path)

    def _path(self, entry_id: str, suffix: str = ".json") -> Path:
        return self.folder / f"{entry_id}{suffix}"

    def _save(self, entry: QueuedExp) -> None:
        atomic_write(self._path(entry.id), json.dumps(asdict(entry), indent=2))

    def entries(self) -> list[QueuedExp]:
        if not self.folder.is_dir():
            return []
        items = [QueuedExp.from_json(p.read_text()) for p in self.folder.glob("*.json")]
        return sorted(items, key=lambda e: e.created)

    def plan(
        self,
        combos: Sequence[Sequence[str]],
        *,
        name: str | None = None,
        targets: Sequence[str] = (),
        force: bool = False,
        run_cache: bool = True,
        copy_paths: Sequence[str] = (),
    ) -> list[QueuedExp]:
        """Entries for one ``exp run --queue`` (one per sweep combination), checked, unsaved.

        With several combinations a given ``name`` becomes ``name-1``,
        ``name-2``... Every override is checked against the workspace's
        params files, so nothing is queued when one of them is wrong.

        Raises:
            GitError: no commit to use as the baseline.
            ExperimentExistsError: a name is taken by an experiment of the
                baseline (unless ``force``) or by a queued entry.
            ParamsError, ConfigError: an override is malformed or names an
                unknown key; a ``copy_paths`` entry (repo-relative) is missing.
        """
        git = Git(self.root)
        baseline = git.try_rev_parse("HEAD")
        if baseline is None:
            raise GitError(
                "the repository has no commit to use as the experiment's baseline",
                path=str(self.root),
                hint="Commit your project first (git add -A && git commit)",
            )
        copied = tuple(check_copy_paths(self.root, copy_paths))
        refs = {exp.name for exp, _ in list_exp_refs(git, baseline)}
        queued = {e.name for e in self.entries() if e.baseline == baseline}
        planned: list[QueuedExp] = []
        for index, combo in enumerate(combos):
            apply_overrides(self.root, [parse_override(o) for o in combo], dry_run=True)
            wanted = f"{name}-{index + 1}" if name and len(combos) > 1 else name
            taken = queued | {e.name for e in planned}
            if wanted is None:
                wanted = generate_name((refs | taken).__contains__)
            validate_name(wanted)
            _check_free(wanted, baseline, in_refs=wanted in refs and not force, queued=taken)
            planned.append(
                QueuedExp(
                    id=uuid.uuid4().hex[:12],
                    name=wanted,
                    baseline=baseline,
                    set_params=tuple(combo),
                    targets=tuple(targets),
                    created=time.time() + index * 1e-6,
                    force=force,
                    run_cache=run_cache,
                    copy_paths=copied,
                )
            )
        return planned

    def add(self, entries: Sequence[QueuedExp]) -> None:
        """Record entries made by :meth:`plan`."""
        for entry in entries:
            self._save(entry)

    def save(self, entry: QueuedExp) -> None:
        """Record ``entry``'s new state, for runners elsewhere (``experiments/pool.py``)."""
        self._save(entry)

    def find(self, name: str) -> QueuedExp:
        for entry in self.entries():
            if name in (entry.name, entry.id):
                return entry
        raise ExperimentNotFoundError(
            f"no queued experiment named '{name}'",
            hint="Run 'prefect-dvc queue status' to list the queue",
        )

    def remove(
        self, names: Sequence[str] = (), *, all_: bool = False, states: Sequence[str] = ()
    ) -> list[str]:
        """Remove entries and their logs; none while one of them runs (``LockError``).

        ``states`` (``queued``, ``success``, ``failed``: DVC's ``queue remove
        --queued/--success/--failed``) adds every entry in one of them to ``names``.
        """
        chosen = self.entries() if all_ else [self.find(n) for n in names]
        if not all_ and states:
            named = {e.id for e in chosen}
            chosen += [e for e in self.entries() if e.state in states and e.id not in named]
        with self.claims.mutex():
            self.claims.refuse_running(chosen)
            for entry in chosen:
                self._path(entry.id).unlink(missing_ok=True)
                self._path(entry.id, ".log").unlink(missing_ok=True)
        return [e.name for e in chosen]

    def log(self, name: str) -> str:
        path = self._path(self.find(name).id, ".log")
        return path.read_text(errors="replace") if path.exists() else ""

    def run_all(
        self,
        jobs: int = 1,
        *,
        cli: Sequence[str] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> list[QueuedExp]:
        """Run every queued entry, ``jobs`` at a time; returns their final states.

        Failed entries stay failed (as in DVC); remove them or queue them again.

        ``env`` is added to the children's environment (e.g. ``PREFECT_API_URL``).
        Entries are claimed one by one (``claims.py``), so a second ``run_all``
        at the same time takes the others and never runs one twice; the
        returned list holds only the entries this call ran. While it runs,
        ``gc`` of the main repository is refused (``locks.cache_reader``).
        """
        todo = [e for e in self.entries() if self.claims.runnable(e)]
        command = list(cli or [str(Path(sys.executable).with_name("prefect-dvc"))])
        child_env = _child_env(env or {})
        with cache_reader(self.root), ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            ran = pool.map(lambda e: self._claim_and_run(e, command, child_env), todo)
            return [e for e in ran if e is not None]

    def _claim_and_run(
        self, seen: QueuedExp, command: list[str], env: dict[str, str]
    ) -> QueuedExp | None:
        entry = replace(seen, state="running", message="")
        if not self.claims.claim(seen, lambda: self._save(entry)):
            return None
        try:
            return self._run_one(entry, command, env)
        finally:
            self.claims.release(entry.id)

    def _run_one(self, entry: QueuedExp, command: list[str], env: dict[str, str]) -> QueuedExp:
        log_path = self._path(entry.id, ".log")
        # NOTE: the clone is named with host and pid (tmpnames), so one a killed
        # worker left is removed when an entry of that name runs again; and the
        # entry is "running" only while a run record says who runs it, so a
        # killed runner's entry is always found and put back (runrecord.py).
        base = f"prefect-dvc-exp-{entry.name}"
        with (
            temp_dir(Path(tempfile.gettempdir()), base) as tmp,
            record_run(self.root, _runner_record(entry, tmp / "repo")) as record,
        ):
            entry = replace(entry, state="running", message="")
            self._save(entry)
            clone = tmp / "repo"
            try:
                self._make_clone(entry, clone)
                with open(log_path, "wb") as log:
                    child = subprocess.Popen(
                        _child_argv(command, entry),
                        cwd=clone,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        env=env,
                    )
                    write_record(self.root, replace(record, child=_child_id(child.pid)))
                    code = child.wait()
                if code != 0:
                    entry = replace(entry, state="failed", message=_last_line(log_path))
                else:
                    entry = replace(entry, state="success", commit=self._fetch_back(entry, clone))
            except Exception as exc:  # recorded on the entry: one failure must not stop others
                entry = replace(entry, state="failed", message=str(exc))
            self._save(entry)
        return entry

    def _make_clone(self, entry: QueuedExp, clone: Path) -> None:
        ExpRef(entry.baseline, entry.name)  # a full SHA and a valid name, never an option
        git = Git(self.root)
        git.run("clone", "--quiet", "--no-checkout", "--shared", str(self.root), str(clone))
        Git(clone).run("checkout", "--quiet", "--detach", entry.baseline)
        place_inputs(self.root, clone, entry.copy_paths)

    def put_back(self, entry_id: str, reason: str) -> QueuedExp | None:
        """Set a ``running`` entry back to ``queued`` (its runner died); ``None`` if none.

        The next ``queue start`` or ``exp run --run-all`` runs it again.
        """
        found = [e for e in self.entries() if e.id == entry_id and e.state == "running"]
        if not found:
            return None
        entry = replace(found[0], state="queued", message=reason)
        self._save(entry)
        return entry

    def _fetch_back(self, entry: QueuedExp, clone: Path) -> str:
        ref = ExpRef(entry.baseline, entry.name).ref
        # NOTE: the main repository's state changes here: under its lock, as DVC does.
        with repo_lock(self.root).hold(wait=True):
            Git(self.root).run("fetch", "--quiet", "--force", str(clone), f"+{ref}:{ref}")
            return Git(self.root).rev_parse(ref)


def _runner_record(entry: QueuedExp, clone: Path) -> RunRecord:
    return RunRecord(
        key=f"queue-{entry.id}",
        process=ProcessId.current(),
        flow="queue runner",
        queue_entry=entry.id,
        clone=str(clone),
    )


def _child_id(pid: int) -> ProcessId | None:
    try:
        return ProcessId.of(pid)
    except psutil.NoSuchProcess:  # already over
        return None


def _check_free(name: str, baseline: str, *, in_refs: bool, queued: set[str]) -> None:
    if in_refs:
        raise ExperimentExistsError(
            f"experiment '{name}' already exists for baseline {baseline[:7]}",
            hint="Use -f to overwrite it or -n to pick another name",
        )
    if name in queued:
        raise ExperimentExistsError(
            f"experiment '{name}' is already queued for baseline {baseline[:7]}",
            hint="Pick another name with -n, or remove it with 'prefect-dvc queue remove'",
        )


def _child_argv(command: Sequence[str], entry: QueuedExp) -> list[str]:
    """``prefect-dvc exp run`` for one entry; ``-f`` only when it was queued with ``-f``.

    The clone has no ``refs/exps``, so the name is free there; passing ``-f``
    regardless would also force every stage to re-run.
    """
    argv = [*command, "exp", "run", "-n", entry.name]
    if entry.force:
        argv.append("-f")
    if not entry.run_cache:
        argv.append("--no-run-cache")
    for override in entry.set_params:
        argv += ["-S", override]
    # NOTE: "--" so that no stage name is ever read as an option of the child.
    return [*argv, "--", *entry.targets]


def _child_env(extra: Mapping[str, str]) -> dict[str, str]:
    env = {**os.environ, **extra}
    env.pop("DVC_ROOT", None)
    return env


def _last_line(path: Path) -> str:
    lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    return lines[-1] if lines else "failed without output"


def kill_entries(queue: Queue, names: Sequence[str], *, force: bool = False) -> list[str]:
    """``queue kill``: stop the runs of running entries, as ``dvc queue kill``.

    The entry's ``prefect-dvc exp run`` child gets SIGINT (DVC's "equivalent
    to Ctrl-C": its stages stop and it ends failed), or SIGKILL with
    ``force``; its runner then records the entry as failed with the log's
    last line. Everything is checked first: nothing is signalled when one
    name is unknown or not running.

    Returns:
        The names signalled.

    Raises:
        ExperimentNotFoundError: a name that is not in the queue.
        GitError: an entry that is not running (queued, done or failed).
    """
    entries = [queue.find(n) for n in names]
    children = {r.queue_entry: r.child for r in read_records(queue.root) if r.queue_entry}
    targets = []
    for entry in entries:
        child = children.get(entry.id)
        if entry.state != "running":
            raise GitError(
                f"queued experiment '{entry.name}' is not running (it is {entry.state})",
                hint="Remove a queued entry with 'prefect-dvc queue remove'; nothing was killed",
            )
        if child is None or not child.is_alive():
            raise GitError(
                f"queued experiment '{entry.name}' has no running 'exp run' process "
                "(its clone is being prepared, or its runner is gone)",
                hint="Try again in a moment, or see 'prefect-dvc queue status'; nothing was killed",
            )
        targets.append((entry.name, child.pid))
    for _name, pid in targets:
        with contextlib.suppress(psutil.NoSuchProcess):
            psutil.Process(pid).send_signal(signal.SIGKILL if force else signal.SIGINT)
    return [name for name, _pid in targets]


def clean_finished(queue: Queue) -> list[str]:
    """``exp clean``: drop the bookkeeping of entries whose experiment is done.

    DVC 3's ``exp clean`` removes dvc-task's processed messages; ours are
    the JSON and log files of entries that succeeded (their experiments are
    refs now). Queued, running and failed entries stay (failed ones are
    ``exp show``'s failed rows and keep their logs for ``queue logs``).

    Returns:
        The names whose files were removed.
    """
    done = [e for e in queue.entries() if e.state == "success"]
    with queue.claims.mutex():
        for entry in done:
            queue._path(entry.id).unlink(missing_ok=True)
            queue._path(entry.id, ".log").unlink(missing_ok=True)
    return [e.name for e in done]


def run_now(
    queue: Queue,
    entry: QueuedExp,
    *,
    cli: Sequence[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> QueuedExp:
    """``exp run --temp``: run one planned entry now in a clone under ``.dvc/tmp/exps/standalone``.

    As DVC's ``TempDirExecutor``: the clone (baseline checked out, the
    away-run inputs placed, ``experiments/inputs.py``) runs ``prefect-dvc exp
    run`` with this process's stdout and stderr, the experiment ref is fetched
    back on success, and the clone is deleted. The workspace, ``HEAD`` and
    the queue are never written; the entry is not recorded in the queue.

    Returns:
        ``entry`` with state ``success`` (and ``commit``) or ``failed`` (and ``message``).
    """
    command = list(cli or [str(Path(sys.executable).with_name("prefect-dvc"))])
    standalone = RepoPaths(queue.root).tmp_dir / "exps" / "standalone"
    with temp_dir(standalone, f"tmp-{entry.name}") as tmp:
        clone = tmp / "repo"
        queue._make_clone(entry, clone)
        code = subprocess.call(_child_argv(command, entry), cwd=clone, env=_child_env(env or {}))
        if code != 0:
            return replace(entry, state="failed", message=f"exp run exited with code {code}")
        return replace(entry, state="success", commit=queue._fetch_back(entry, clone))
