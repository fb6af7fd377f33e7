"""Where a deployed experiment runs, and how its results leave the worker.

Provides:
    is_git_url(repo): whether ``exp_run``'s ``repo`` names a Git remote to clone.
    Workspace: the project folder a flow run works in, and whether we cloned it.
    prepare_workspace(repo, rev, workdir): the local project as it is, or a
        fresh clone of a Git URL at ``rev`` (experiment refs included, so a
        generated name never collides with one already on the remote).
    write_config_local(root, text): ``.dvc/config.local`` of a clone, e.g.
        remote credentials kept in a Prefect Secret block.
    publish_experiment(ws, exp, ...): the end-of-run push, i.e. what
        ``prefect-dvc exp push --run-cache`` does: the experiment ref to the
        Git remote, its outs and every local run-cache entry (with their
        objects) to the DVC remote.
    release_workspace(ws, published): delete a temporary clone, but only once
        nothing in it can be lost.
    open_workspace(...): prepare_workspace plus config.local from a Secret block.
    push_experiment: the end-of-run push as a Prefect task (a task run named
        ``push`` in the UI, with a markdown artifact saying where things went).

Why a clone per run: a worker is disposable and may serve many deployments,
so nothing is assumed about its disk. The clone starts with an empty cache;
the remote run-cache (looked up by the stage executor after the local one)
restores every stage that ran before anywhere, and the push at the end puts
everything this run produced back where the next worker will look.
Prefect appears only in the last two (a Secret block, a task); the rest is
plain Git and storage code.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.blocks.system import Secret
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger

from prefect_dvc.config import CONFIG_LOCAL
from prefect_dvc.errors import ConfigError, GitError
from prefect_dvc.experiments.git import Git, check_remote
from prefect_dvc.experiments.refs import ExpRef
from prefect_dvc.experiments.sync import push_experiments
from prefect_dvc.project import push_experiment_objects
from prefect_dvc.redact import redact
from prefect_dvc.repo import DVC_DIR, find_root
from prefect_dvc.storage.sync import SyncReport
from prefect_dvc.tasks.artifacts import artifact_key

logger = logging.getLogger(__name__)

# scheme://..., or scp-like user@host:path (but not a Windows drive "C:\...").
_URL = re.compile(r"^(?:[a-zA-Z][a-zA-Z0-9+.-]+://|[\w.-]+@[\w.-]+:)")
DEFAULT_GIT_REMOTE = "origin"


@dataclass(frozen=True)
class Workspace:
    """The project folder of one flow run.

    Attributes:
        root: the folder holding ``.dvc/`` (and ``dvc.yaml``).
        cloned: we cloned it from ``repo`` for this run.
        temporary: we created its parent folder and may delete it afterwards.
    """

    root: Path
    cloned: bool = False
    temporary: bool = False


@dataclass(frozen=True)
class PublishReport:
    """What the end-of-run push sent: the ref, objects and run-cache entries."""

    ref: str
    git_remote: str
    objects: int
    runs: int


def is_git_url(repo: str) -> bool:
    """``file://``, ``https://``, ``ssh://``, ``git@host:path`` -> True; plain paths -> False."""
    return bool(_URL.match(repo))


def prepare_workspace(repo: str, rev: str | None = None, workdir: str | None = None) -> Workspace:
    """The project to run in: ``repo`` itself when it is a path, else a fresh clone.

    A local project is used as it is; ``rev`` must then be its ``HEAD``
    (checking out another revision would move the user's branch).

    Raises:
        ConfigError: a local path that is no DVC project, or a ``rev`` it is not on.
        GitError: the clone or the checkout failed (unknown URL or revision).
    """
    if not is_git_url(repo):
        return Workspace(_local_root(repo, rev))
    parent = Path(workdir).expanduser() if workdir else None
    if parent is not None:
        parent.mkdir(parents=True, exist_ok=True)
    target = Path(tempfile.mkdtemp(prefix="prefect-dvc-", dir=parent))
    try:
        root = _clone(repo, rev, target / "repo")
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
    return Workspace(root, cloned=True, temporary=True)


def _local_root(repo: str, rev: str | None) -> Path:
    root = find_root(Path(repo).expanduser())
    if rev:
        git = Git(root)
        wanted = git.try_rev_parse(f"{rev}^{{commit}}")
        head = git.try_rev_parse("HEAD")
        if wanted is None or wanted != head:
            raise ConfigError(
                f"rev '{rev}' is not the checked-out commit of '{root}'",
                hint="Check it out yourself, or pass the repository as a Git URL "
                f"(file://{root}) so the run works in a fresh clone",
            )
    return root


def _clone(url: str, rev: str | None, dest: Path) -> Path:
    hint = f"Check that '{url}' is a Git repository this worker can read"
    check_remote(url)
    _git(dest.parent, "clone", "--quiet", "--no-checkout", "--", url, str(dest), hint=hint)
    git = Git(dest)
    if rev:
        # NOTE: a rev may be a branch that exists only as origin/<rev> after a clone.
        sha = git.try_rev_parse(f"{rev}^{{commit}}") or git.try_rev_parse(
            f"origin/{rev}^{{commit}}"
        )
        if sha is None:
            raise GitError(
                f"revision '{rev}' not found in '{url}'",
                hint="Pass a branch, tag or commit that exists on the remote",
            )
        git.run("checkout", "--quiet", "--detach", sha)
    else:
        git.run("checkout", "--quiet", hint=f"'{url}' has no default branch to run")
    # NOTE: existing experiments come along so generated names stay unique and
    # the push at the end is a plain fast-forward of a new ref.
    git.run("fetch", "--quiet", "--no-tags", DEFAULT_GIT_REMOTE, "+refs/exps/*:refs/exps/*")
    if not (dest / DVC_DIR).is_dir():
        raise ConfigError(
            f"'{url}' has no .dvc folder at its top level at {rev or 'its default branch'}",
            hint="Point 'repo' at the Git repository of a DVC project",
        )
    return dest


def _git(cwd: Path, *args: str, hint: str) -> None:
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        said = (proc.stderr.strip().splitlines() or ["failed"])[-1]
        raise GitError(f"git {args[0]} failed: {redact(said)}", hint=hint)


def write_config_local(root: Path, text: str) -> None:
    """Write ``.dvc/config.local`` (ignored by Git) of a cloned workspace.

    Raises:
        ConfigError: the workspace already has one (a user's own checkout).
    """
    path = root / DVC_DIR / CONFIG_LOCAL
    if path.exists():
        raise ConfigError(
            "refusing to overwrite an existing config.local",
            path=str(path),
            hint="Drop the credentials block parameter for a local repository",
        )
    path.write_text(text if text.endswith("\n") else text + "\n")
    path.chmod(0o600)


def publish_experiment(
    ws: Workspace, exp: ExpRef, *, remote: str | None, git_remote: str = DEFAULT_GIT_REMOTE
) -> PublishReport:
    """Push experiment ``exp``: outs and run-cache first, then the Git ref.

    Objects go first so that whoever sees the ref can also fetch its data.

    Raises:
        ConfigError: no DVC remote is configured.
        GitError: the ref could not be pushed (it diverged on the remote).
    """
    report: SyncReport = push_experiment_objects(ws.root, [exp], remote=remote, run_cache=True)
    if report.missing:
        logger.warning("%d object(s) were not in the local cache", len(report.missing))
    push_experiments(ws.root, git_remote, [exp.ref])
    # NOTE: the report is logged and published as an artifact: no token in it.
    return PublishReport(exp.ref, redact(git_remote), report.objects, report.runs)


def release_workspace(ws: Workspace, *, published: bool) -> Path | None:
    """Delete a temporary clone once published; returns the folder kept, if any."""
    if not ws.temporary:
        return None
    if not published:
        return ws.root
    shutil.rmtree(ws.root.parent, ignore_errors=True)
    return None


def open_workspace(
    repo: str, *, rev: str | None, workdir: str | None, config_local_secret: str | None
) -> Workspace:
    """:func:`prepare_workspace`, then ``.dvc/config.local`` from a Secret block if named.

    Raises:
        ConfigError: a Secret block for a local project, or one that does not exist.
    """
    if config_local_secret and not is_git_url(repo):
        raise ConfigError(
            f"config_local_secret '{config_local_secret}' is only used for a cloned repository",
            hint="Keep credentials in the project's own .dvc/config.local, or pass a Git URL",
        )
    ws = prepare_workspace(repo, rev, workdir)
    if config_local_secret:
        try:
            text = Secret.load(config_local_secret).get()
        except (ValueError, OSError) as exc:
            release_workspace(ws, published=True)
            raise ConfigError(
                f"cannot load Secret block '{config_local_secret}': {exc}",
                hint="Create it with Secret(value=...).save(name) (see deploy/README.md)",
            ) from exc
        write_config_local(ws.root, text if isinstance(text, str) else str(text))
    return ws


@task(name="push", cache_policy=NO_CACHE, persist_result=False)
def push_experiment(
    ws: Workspace, exp: ExpRef, remote: str | None, git_remote: str = DEFAULT_GIT_REMOTE
) -> PublishReport:
    """Push the experiment's ref, outs and run-cache entries so the worker can go away."""
    report = publish_experiment(ws, exp, remote=remote, git_remote=git_remote)
    get_run_logger().info(
        "Pushed %s to '%s'; %d object(s) and %d run-cache entries to the DVC remote",
        report.ref,
        report.git_remote,
        report.objects,
        report.runs,
    )
    create_markdown_artifact(
        markdown=(
            f"Experiment **{exp.name}** pushed to `{report.git_remote}` as `{report.ref}`.\n\n"
            f"{report.objects} object(s) and {report.runs} run-cache entries sent to the "
            f"DVC remote. Get it anywhere with `prefect-dvc exp pull {report.git_remote} "
            f"{exp.name}`."
        ),
        key=artifact_key("exp", exp.name, "push"),
        description=f"Where experiment {exp.name} was pushed",
    )
    return report
