"""The experiment queue: ``exp run --queue``, ``--run-all``, ``queue status/remove/logs``.

Provides:
    QueuedExp: one recorded experiment (name, baseline, overrides, targets, state).
    Queue: entries as JSON files under ``.dvc/tmp/prefect-dvc/queue``, their
        logs beside them; ``add``, ``entries``, ``remove``, ``run_all``.

Each queued experiment runs in its own temporary clone of the repository at
its baseline, so parallel experiments never see each other's workspace.
The clone gets the workspace's uncommitted and untracked (not ignored)
files (DVC's queue loses the untracked ones), shares the main cache through
``.dvc/config.local``, and runs ``prefect-dvc exp run`` as a child process
whose output goes to the entry's log. On success the experiment ref is
fetched back into the main repository; a failure is recorded with its log
and does not stop the other entries.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from prefect_dvc.config import load_config
from prefect_dvc.errors import ExperimentExistsError, ExperimentNotFoundError
from prefect_dvc.experiments.commit import workspace_changes
from prefect_dvc.experiments.git import Git
from prefect_dvc.experiments.refs import ExpRef
from prefect_dvc.repo import RepoPaths
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

    @classmethod
    def from_json(cls, text: str) -> QueuedExp:
        data = json.loads(text)
        data["set_params"] = tuple(data.get("set_params") or ())
        data["targets"] = tuple(data.get("targets") or ())
        return cls(**data)


class Queue:
    """The queue of one repository."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.folder = RepoPaths(root).own_tmp / "queue"

    def _path(self, entry_id: str, suffix: str = ".json") -> Path:
        return self.folder / f"{entry_id}{suffix}"

    def _save(self, entry: QueuedExp) -> None:
        atomic_write(self._path(entry.id), json.dumps(asdict(entry), indent=2))

    def entries(self) -> list[QueuedExp]:
        if not self.folder.is_dir():
            return []
        items = [QueuedExp.from_json(p.read_text()) for p in self.folder.glob("*.json")]
        return sorted(items, key=lambda e: e.created)

    def add(
        self, *, name: str, baseline: str, set_params: Sequence[str], targets: Sequence[str]
    ) -> QueuedExp:
        """Record an experiment to run later; its name must be new for the baseline."""
        if any(e.name == name and e.baseline == baseline for e in self.entries()):
            raise ExperimentExistsError(
                f"experiment '{name}' is already queued for baseline {baseline[:7]}",
                hint="Pick another name with -n, or remove it with 'prefect-dvc queue remove'",
            )
        entry = QueuedExp(
            id=uuid.uuid4().hex[:12],
            name=name,
            baseline=baseline,
            set_params=tuple(set_params),
            targets=tuple(targets),
        )
        self._save(entry)
        return entry

    def find(self, name: str) -> QueuedExp:
        for entry in self.entries():
            if name in (entry.name, entry.id):
                return entry
        raise ExperimentNotFoundError(
            f"no queued experiment named '{name}'",
            hint="Run 'prefect-dvc queue status' to list the queue",
        )

    def remove(self, names: Sequence[str] = (), *, all_: bool = False) -> list[str]:
        chosen = self.entries() if all_ else [self.find(n) for n in names]
        for entry in chosen:
            self._path(entry.id).unlink(missing_ok=True)
            self._path(entry.id, ".log").unlink(missing_ok=True)
        return [e.name for e in chosen]

    def log(self, name: str) -> str:
        path = self._path(self.find(name).id, ".log")
        return path.read_text(errors="replace") if path.exists() else ""

    def run_all(self, jobs: int = 1, *, cli: Sequence[str] | None = None) -> list[QueuedExp]:
        """Run every queued entry, ``jobs`` at a time; returns their final states."""
        todo = [e for e in self.entries() if e.state in ("queued", "failed")]
        command = list(cli or [str(Path(sys.executable).with_name("prefect-dvc"))])
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            return list(pool.map(lambda e: self._run_one(e, command), todo))

    def _run_one(self, entry: QueuedExp, command: list[str]) -> QueuedExp:
        entry = replace(entry, state="running", message="")
        self._save(entry)
        log_path = self._path(entry.id, ".log")
        with tempfile.TemporaryDirectory(prefix=f"prefect-dvc-exp-{entry.name}-") as tmp:
            clone = Path(tmp) / "repo"
            try:
                self._make_clone(entry, clone)
                argv = [*command, "exp", "run", "-n", entry.name, "-f"]
                for override in entry.set_params:
                    argv += ["-S", override]
                argv += list(entry.targets)
                with open(log_path, "wb") as log:
                    code = subprocess.run(
                        argv, cwd=clone, stdout=log, stderr=subprocess.STDOUT, env=_child_env()
                    ).returncode
                if code != 0:
                    entry = replace(entry, state="failed", message=_last_line(log_path))
                else:
                    entry = replace(entry, state="success", commit=self._fetch_back(entry, clone))
            except Exception as exc:  # recorded on the entry: one failure must not stop others
                entry = replace(entry, state="failed", message=str(exc))
        self._save(entry)
        return entry

    def _make_clone(self, entry: QueuedExp, clone: Path) -> None:
        git = Git(self.root)
        git.run("clone", "--quiet", "--no-checkout", "--shared", str(self.root), str(clone))
        Git(clone).run("checkout", "--quiet", "--detach", entry.baseline)
        for rel in workspace_changes(self.root):
            src, dest = self.root / rel, clone / rel
            if src.is_file():
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dest)
            elif not src.exists() and dest.exists():
                dest.unlink()
        config = load_config(self.root)
        cache_dir = config.cache_dir or RepoPaths(self.root).default_cache_dir
        local = self.root / ".dvc" / "config.local"
        extra = local.read_text() if local.exists() else ""
        (clone / ".dvc").mkdir(exist_ok=True)
        (clone / ".dvc" / "config.local").write_text(
            _without_cache_section(extra) + f"[cache]\n    dir = {cache_dir.resolve()}\n"
        )

    def _fetch_back(self, entry: QueuedExp, clone: Path) -> str:
        ref = ExpRef(entry.baseline, entry.name).ref
        Git(self.root).run("fetch", "--quiet", "--force", str(clone), f"+{ref}:{ref}")
        return Git(self.root).rev_parse(ref)


def _without_cache_section(text: str) -> str:
    kept: list[str] = []
    skipping = False
    for line in text.splitlines(keepends=True):
        if line.lstrip().startswith("["):
            skipping = line.strip() == "[cache]"
        if not skipping:
            kept.append(line)
    result = "".join(kept)
    return result if not result or result.endswith("\n") else result + "\n"


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("DVC_ROOT", None)
    return env


def _last_line(path: Path) -> str:
    lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    return lines[-1] if lines else "failed without output"
