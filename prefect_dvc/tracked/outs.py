"""Every out of a repository, and DVC's rules for how they may overlap.

Provides:
    OwnedOut: one out and who owns it (a ``.dvc`` file or a ``dvc.yaml`` stage).
    collect_outs(root): the outs of every ``.dvc`` file and every ``dvc.yaml``
        stage, as DVC's ``Index.outs_graph`` sees them.
    find_owner(outs, repo_path): the out at or above ``repo_path`` (DVC's
        ``find_outs_by_path(strict=False)``).
    isin_or_eq(child, parent): POSIX path containment, DVC's ``fs.isin_or_eq``.

DVC builds one graph of all outs of a repository (``dvc/repo/graph.py``
``check_graph``) and refuses two outs where one contains the other; ``add``,
``commit``, ``move`` and ``remove`` ask it which stage owns a path.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from prefect_dvc.dvcfile import find_dvcfiles, load_dvcfile
from prefect_dvc.ignore import IgnoreRules, rules_for
from prefect_dvc.translators import load_pipeline

PROJECT_FILE = "dvc.yaml"


@dataclass(frozen=True)
class OwnedOut:
    """One out of the repository.

    Attributes:
        repo_path: POSIX path relative to the root.
        dvcfile: the ``.dvc`` file or ``dvc.yaml`` declaring it (POSIX, relative).
        stage: the stage name for a ``dvc.yaml`` out, ``None`` for a ``.dvc`` file.
    """

    repo_path: str
    dvcfile: str
    stage: str | None = None

    @property
    def is_data_source(self) -> bool:
        """A ``.dvc`` file's out (DVC's ``stage.is_data_source``)."""
        return self.stage is None

    @property
    def addressing(self) -> str:
        """How DVC names the owning stage: ``a.dvc``, ``train``, ``sub/dvc.yaml:train``."""
        if self.stage is None:
            return self.dvcfile
        return self.stage if self.dvcfile == PROJECT_FILE else f"{self.dvcfile}:{self.stage}"

    def stage_text(self) -> str:
        """DVC's ``str(stage)``: ``stage: 'train'`` or ``'a.dvc'``."""
        return f"stage: '{self.addressing}'" if self.stage else f"'{self.dvcfile}'"


def isin_or_eq(child: str, parent: str) -> bool:
    """``child`` is ``parent`` or below it (POSIX, normalised, repo-relative)."""
    return child == parent or child.startswith(parent.rstrip("/") + "/")


def find_dvcyamls(root: Path) -> list[str]:
    """Every ``dvc.yaml`` of the repository (sorted, POSIX), skipping ``.dvcignore``d folders."""
    top = Path(os.path.abspath(root))
    found: list[str] = []
    stack: list[tuple[Path, str, IgnoreRules | None]] = [(top, "", rules_for(top, top))]
    while stack:
        folder, prefix, rules = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            rel = prefix + entry.name
            is_dir = entry.is_dir(follow_symlinks=False)
            if rules is not None and rules.is_ignored(rel, is_dir):
                continue
            if is_dir:
                sub = Path(entry.path)
                if entry.name in (".git", ".dvc") or (sub / ".git").exists():
                    continue
                if (sub / ".dvc").is_dir():
                    continue
                nxt = rules.descend(rel) if rules is not None else None
                stack.append((sub, rel + "/", nxt))
            elif entry.name == PROJECT_FILE:
                found.append(rel)
    return sorted(found)


def collect_outs(root: Path, *, skip: Iterable[str] = ()) -> list[OwnedOut]:
    """The outs of every ``.dvc`` file and ``dvc.yaml`` stage under ``root``.

    ``skip`` names ``.dvc`` files to leave out (the ones a command is about
    to rewrite).

    Raises:
        DvcYamlError, SchemaError, PipelineError: a pipeline or ``.dvc`` file
            that cannot be read (file and line named), as DVC fails to
            collect the index.
    """
    skipped = set(skip)
    outs: list[OwnedOut] = []
    for path in find_dvcfiles(root):
        if path in skipped:
            continue
        dvcfile = load_dvcfile(root, path)
        outs.extend(OwnedOut(o.repo_path, path) for o in dvcfile.outs if o.repo_path)
    for path in find_dvcyamls(root):
        pipeline = load_pipeline(root, path)
        for stage in pipeline.stages.values():
            outs.extend(OwnedOut(o.repo_path, path, stage.name) for o in stage.outs)
    return outs


def find_owner(outs: Sequence[OwnedOut], repo_path: str) -> OwnedOut | None:
    """The out equal to or containing ``repo_path`` (DVC: ``find_outs_by_path(strict=False)``)."""
    for out in outs:
        if isin_or_eq(repo_path, out.repo_path):
            return out
    return None


def find_inside(outs: Sequence[OwnedOut], repo_path: str) -> OwnedOut | None:
    """An out strictly inside ``repo_path`` (the other half of DVC's overlap check)."""
    for out in outs:
        if out.repo_path != repo_path and isin_or_eq(out.repo_path, repo_path):
            return out
    return None
