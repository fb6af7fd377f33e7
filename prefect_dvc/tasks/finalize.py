"""The finalizer: record a finished pipeline run as a Git experiment.

Provides:
    ExperimentResult: the experiment's name, ref, commit and baseline.
    experiment_hash(results): DVC's ``exp_hash`` over the stages that ran.
    finalize: a ``@task`` that commits what DVC 3 commits (changed tracked
        files, ``dvc.lock``, untracked deps, uncached outs, ``.gitignore``,
        top-level metrics/params/plots: ``experiments/contents.py``) as one
        commit on the baseline, points ``refs/exps/..`` at it and publishes
        the experiment's table and plots artifacts.

``dvc.lock`` is already written stage by stage by the stage tasks, so the
commit is the only thing left to do here, and it never touches the user's
``HEAD``, branch or index (``experiments/commit.py`` uses a private index).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from prefect import task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger

from prefect_dvc.execution import Outcome, StageResult
from prefect_dvc.experiments.commit import commit_experiment
from prefect_dvc.experiments.contents import experiment_paths
from prefect_dvc.experiments.refs import ExpRef
from prefect_dvc.experiments.summary import comparison_rows
from prefect_dvc.tasks.artifacts import artifact_key
from prefect_dvc.tasks.plots import publish_plots
from prefect_dvc.translators.index import load_index


@dataclass(frozen=True)
class ExperimentResult:
    """Where an experiment ended up in Git."""

    name: str
    baseline: str
    commit: str

    @property
    def ref(self) -> str:
        return ExpRef(self.baseline, self.name).ref


def experiment_hash(results: Mapping[str, StageResult]) -> str:
    """sha256 of the lock entries of the stages that (re)ran, as DVC names its commits."""
    ran = {
        name: result.entry
        for name, result in results.items()
        if result.outcome is not Outcome.UP_TO_DATE
    }
    return hashlib.sha256(json.dumps(ran, sort_keys=True).encode()).hexdigest()


@task(name="finalize", cache_policy=NO_CACHE, persist_result=False)
def finalize(
    root: Path,
    baseline: str,
    name: str,
    results: Mapping[str, StageResult],
    force: bool = False,
    message: str | None = None,
    plots: bool = True,
) -> ExperimentResult:
    """Commit the experiment as refs/exps/<baseline>/<name> and publish its summary table.

    ``plots`` also renders the plots artifact (baseline against experiment).
    """
    logger = get_run_logger()
    # NOTE: DVC's set only: an unrelated untracked file (notes.txt, .env) stays out.
    paths = experiment_paths(root, load_index(root))
    text = message or f"dvc: commit experiment {experiment_hash(results)}"
    sha = commit_experiment(
        root, baseline=baseline, name=name, paths=paths, message=text, force=force
    )
    result = ExperimentResult(name=name, baseline=baseline, commit=sha)
    logger.info("Experiment '%s' committed as %s (%s)", name, sha[:7], result.ref)
    rows = comparison_rows(root, baseline, "workspace")
    if rows:
        create_table_artifact(
            table=rows,
            key=artifact_key("exp", name),
            description=f"Experiment **{name}** ({sha[:7]}) against baseline {baseline[:7]}",
        )
    if not plots:
        return result
    try:
        publish_plots(root, name, baseline)
    except Exception as exc:  # NOTE: a plot problem never fails the experiment
        logger.warning("Plots of experiment '%s' not published: %s", name, exc)
    return result
