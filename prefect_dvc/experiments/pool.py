"""What a work pool needs from Git before queued experiments are sent to it.

Provides:
    PoolBatch: the Git URL workers clone, and the queued entries to send.
    remote_url(root, git_remote): the URL a worker on another machine can clone.
    check_batch(root, git_remote, entries): every check made before anything
        is sent (URL without credentials, baselines on the remote, names free
        there); reads only, one ``git ls-remote``.
    run_parameters(entry): the flow-run parameters of one entry (baseline,
        overrides, name...; never the URL nor a credential).
    unsent_changes(root, batch): the workspace's uncommitted files that a
        local queue run would take along and a pool run does not.

A worker clones the Git remote at the entry's baseline (``flows/checkout.py``
``_clone``): ``git clone`` brings branches and tags only, so the baseline
must be reachable from a branch or tag *on the remote*, not just here. The
entry's ``-S`` overrides travel as parameters and are applied on the worker;
the workspace's uncommitted files do not travel (unlike a local queue run,
whose clone gets them from ``experiments/inputs.py``), so entries queued with
``-C/--copy-paths`` are refused.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefect_dvc.errors import ConfigError, ExperimentExistsError, GitError
from prefect_dvc.experiments.commit import workspace_changes
from prefect_dvc.experiments.git import Git, check_remote
from prefect_dvc.experiments.queue import QueuedExp
from prefect_dvc.experiments.refs import ExpRef
from prefect_dvc.redact import redact

# NOTE: the refs `git clone` copies, so the ones a worker can check out from.
_CLONED = ("refs/heads/", "refs/tags/")
# NOTE: the shapes flows/checkout.py's is_git_url takes for a URL (scheme://...
# or user@host:path); that module imports Prefect, which this layer must not.
_URL = re.compile(r"^(?:[a-zA-Z][a-zA-Z0-9+.-]+://|[\w.-]+@[\w.-]+:)")


@dataclass(frozen=True)
class PoolBatch:
    """Queued experiments checked for a pool: ``url`` is what workers clone."""

    git_remote: str
    url: str
    entries: tuple[QueuedExp, ...]


def remote_url(root: Path, git_remote: str) -> str:
    """The URL of ``git_remote`` (a remote name or a URL) as another machine can clone it.

    A remote given as a local path (``/srv/p.git``, ``../p.git``) becomes a
    ``file://`` URL of its absolute path: a worker takes a plain path for a
    project to run in place, not for a repository to clone.

    Raises:
        GitError: ``git_remote`` is no remote of the repository nor a URL, or
            its URL holds credentials (they would be stored in the deployment,
            visible in the UI).
    """
    check_remote(git_remote)
    git = Git(root)
    if _URL.match(git_remote):
        url = git_remote
    else:
        names = git.run("remote").split()
        if git_remote not in names and not Path(git_remote).is_absolute():
            raise GitError(
                f"'{git_remote}' is not a Git remote of this repository",
                hint="Add it ('git remote add origin <url>') and push the baseline, "
                "or pass --git-remote <name or url>",
            )
        url = git.run("remote", "get-url", "--", git_remote) if git_remote in names else git_remote
    if not _URL.match(url):
        url = (root / url).resolve().as_uri()
    if redact(url) != url:
        raise GitError(
            f"the URL of Git remote '{git_remote}' ({redact(url)}) holds credentials; "
            "workers would see them in the deployment",
            hint="Set the URL without them ('git remote set-url') and give workers a Git "
            "credential helper or an SSH key; nothing was sent",
        )
    return url


def check_batch(root: Path, git_remote: str, entries: Sequence[QueuedExp]) -> PoolBatch:
    """Check that workers can run ``entries`` from ``git_remote``; writes nothing.

    Raises:
        GitError: the remote cannot be listed, its URL holds credentials, or
            a baseline is reachable from no branch or tag there (push it first).
        ExperimentExistsError: an entry's experiment already exists on the
            remote (and was not queued with ``-f``): the worker's push would fail.
        ConfigError: an entry was queued with ``-C`` (its files cannot travel).
    """
    url = remote_url(root, git_remote)
    for entry in entries:
        _check_entry(entry)
        if entry.copy_paths:
            raise ConfigError(
                f"queued experiment '{entry.name}' copies {', '.join(entry.copy_paths)} (-C) "
                "into its run, which a pool worker cannot get (it clones the Git remote)",
                hint="Run it here with 'prefect-dvc queue start', or commit those files, "
                "push and queue it again; nothing was sent",
            )
    advertised = _ls_remote(Git(root), git_remote, url)
    git = Git(root)
    for baseline in dict.fromkeys(e.baseline for e in entries):
        if not _reachable(git, baseline, advertised):
            raise GitError(
                f"baseline {baseline[:7]} is not on Git remote '{git_remote}' ({redact(url)}): "
                "workers clone it from there",
                hint=f"Push it first (git push {git_remote} HEAD); nothing was sent",
            )
    for entry in entries:
        ref = ExpRef(entry.baseline, entry.name).ref
        if ref in advertised and not entry.force:
            raise ExperimentExistsError(
                f"experiment '{entry.name}' already exists on Git remote '{git_remote}' "
                f"for baseline {entry.baseline[:7]}",
                hint="Pull it ('prefect-dvc exp pull'), or remove the queued entry "
                "('prefect-dvc queue remove') and queue it under another name; nothing was sent",
            )
    return PoolBatch(git_remote, url, tuple(entries))


def _check_entry(entry: QueuedExp) -> None:
    """A full baseline SHA and a valid name: never an option or a path reaches Git or the API.

    Raises:
        ConfigError: the entry's file was damaged or edited by hand.
    """
    try:
        ExpRef(entry.baseline, entry.name)
    except (ValueError, GitError) as exc:
        raise ConfigError(
            f"queued experiment '{entry.name}' ({entry.id}) is damaged: {exc}",
            hint=f"Remove it ('prefect-dvc queue remove {entry.id}') and queue it again; "
            "nothing was sent",
        ) from exc


def _ls_remote(git: Git, git_remote: str, url: str) -> dict[str, str]:
    """``{ref: sha}`` of every ref the remote advertises (peeled tags as ``ref^{}``)."""
    out = git.run(
        "ls-remote",
        "--end-of-options",
        url,
        hint=f"Check that Git remote '{git_remote}' exists and you can reach it; nothing was sent",
    )
    refs: dict[str, str] = {}
    for line in out.splitlines():
        sha, _, ref = line.partition("\t")
        refs[ref] = sha
    return refs


def _reachable(git: Git, baseline: str, advertised: dict[str, str]) -> bool:
    """Whether a clone of the remote holds ``baseline`` (a branch or tag leads to it).

    A tip this repository does not have cannot be walked here; such a
    baseline counts as missing (the user is told to push it, which is harmless).
    """
    tips = {sha for ref, sha in advertised.items() if ref.startswith(_CLONED)}
    if baseline in tips:
        return True
    for tip in tips:
        if git.try_rev_parse(tip) is not None and git.is_ancestor(baseline, tip):
            return True
    return False


def run_parameters(entry: QueuedExp) -> dict[str, Any]:
    """``exp_run`` parameters for one entry: baseline, overrides, name and its run options.

    ``force`` is passed only when the entry was queued with ``-f`` (it also
    re-runs every stage), as the local queue's child command does. The Git
    URL and ``push`` are the deployment's defaults; credentials are never
    parameters (a Secret block or the worker's environment carries them).
    """
    params: dict[str, Any] = {
        "rev": entry.baseline,
        "set_params": list(entry.set_params),
        "name": entry.name,
    }
    if entry.targets:
        params["targets"] = list(entry.targets)
    if entry.force:
        params["force"] = True
    if not entry.run_cache:
        params["run_cache"] = False
    return params


def unsent_changes(root: Path, batch: PoolBatch) -> list[str]:
    """Uncommitted files (repo-relative) a pool run of ``batch`` will not see.

    A local queue run copies the workspace's tracked changes and untracked
    files into its clone (``experiments/inputs.py``); a worker has only the
    pushed baseline. Only entries on the checked-out commit are concerned.
    """
    head = Git(root).try_rev_parse("HEAD")
    if not any(entry.baseline == head for entry in batch.entries):
        return []
    return workspace_changes(root)
