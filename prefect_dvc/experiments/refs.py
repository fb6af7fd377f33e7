"""Experiment refs: ``refs/exps/<b[:2]>/<b[2:]>/<name>`` (formats.md §5.1-5.2).

Provides:
    EXPS_NAMESPACE: ``refs/exps``.
    ExpRef: one experiment's baseline and name, and its ref.
    validate_name: reject names Git or DVC would not accept, before any ref exists.
    baseline_prefix, parse_ref_list: the ref folder of a baseline; ``(ref, sha)``
        pairs filtered down to experiments.
    list_exp_refs: the experiments of one baseline (or all), in one ``for-each-ref``.
    list_remote_exp_refs: the experiments on a Git remote, in one ``ls-remote``.
    pick_by_name: choose among same-named experiments, preferring HEAD's baseline.
    select_remote_exps: the named (or all) experiments on a Git remote.
    resolve_exp: turn a name, a full ref or a commit into ``(ExpRef, sha)``.

DVC keeps queue and executor state under the same namespace (``apply/``,
``celery/``, ``exec/``, ``temp/``, ``stash``); those refs never parse as
experiments, so every reader here skips them for free.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from prefect_dvc.errors import ExperimentNotFoundError, GitError
from prefect_dvc.experiments.git import Git, check_remote

EXPS_NAMESPACE = "refs/exps"

_HEX40 = re.compile(r"[0-9a-f]{40}\Z")
# NOTE: the characters `git check-ref-format` refuses anywhere in a component
# (control characters, space, ~ ^ : ? * [ \ and DEL), plus "/" which DVC refuses
# in experiment names because it would add levels to the ref.
_BAD_CHARS = re.compile(r"[\x00-\x20\x7f~^:?*\[\\/]")
# NOTE: letters, digits, "-" and "_" with single inner dots, not ending in
# ".lock": always valid, so the full checks run only for unusual names.
_LOOKS_FINE = re.compile(r"[\w-]+(\.[\w-]+)*\Z(?<!\.lock)", re.ASCII)
_RESERVED = frozenset({"apply", "celery", "exec", "temp", "stash"})
# NOTE: a loose ref is a file named after the experiment, written through
# "<name>.lock", and the name also becomes "<name>-branch", "<name>-12" (sweeps)
# and a queue clone's folder "prefect-dvc-exp-<name>-XXXXXXXX": 200 bytes keeps
# all of them under the 255-byte file name limit of common filesystems.
MAX_NAME_BYTES = 200

NOT_FOUND_HINT = "Run 'prefect-dvc exp list' to see the experiments of this commit"


def _name_problem(name: str) -> str | None:
    """Why ``name`` cannot be an experiment name, or ``None`` if it can."""
    size = len(name.encode("utf-8", errors="surrogateescape"))
    if size > MAX_NAME_BYTES:
        return f"it is {size} bytes long (at most {MAX_NAME_BYTES})"
    if name.startswith("-"):
        return "it starts with '-' (it would read as an option)"
    if _LOOKS_FINE.match(name):  # the common case, in one cheap test
        return None
    if not name:
        return "it is empty"
    bad = _BAD_CHARS.search(name)
    if bad:
        return f"it contains {bad.group()!r}"
    checks = (
        (name.startswith("."), "it starts with '.'"),
        (name.endswith("."), "it ends with '.'"),
        (name.endswith(".lock"), "it ends with '.lock'"),
        (".." in name, "it contains '..'"),
        ("@{" in name, "it contains '@{'"),
    )
    return next((why for failed, why in checks if failed), None)


def validate_name(name: str) -> None:
    """Raise :class:`GitError` unless ``name`` is a valid experiment name.

    The rules are ``git check-ref-format``'s for one ref component, plus
    DVC's "no ``/``", a length limit (:data:`MAX_NAME_BYTES`, so every file
    named after the experiment fits the filesystem) and no leading ``-``
    (so the name can never be read as an option). Checking up front means a
    long run never fails at its very last step because of its name.

    Raises:
        GitError: naming the problem; the name is shown shortened and with
            control characters escaped, so the message stays one line.
    """
    problem = _name_problem(name)
    if problem:
        shown = name if len(name) <= 60 else name[:57] + "..."
        raise GitError(
            f"'{shown}' is not a valid experiment name: {problem}",
            hint="Use letters, digits, '-', '_' and '.' (no '/', no spaces), e.g. -n lr-0.1",
        )


@dataclass(frozen=True)
class ExpRef:
    """An experiment: the full baseline SHA it was run from, and its name."""

    baseline: str
    name: str

    def __post_init__(self) -> None:
        if not _HEX40.match(self.baseline):
            raise ValueError(f"baseline must be a full lowercase SHA, not {self.baseline!r}")
        validate_name(self.name)

    @property
    def ref(self) -> str:
        """``refs/exps/<b[:2]>/<b[2:]>/<name>``."""
        return f"{EXPS_NAMESPACE}/{self.baseline[:2]}/{self.baseline[2:]}/{self.name}"

    def __str__(self) -> str:
        return self.name

    @classmethod
    def parse(cls, ref: str) -> ExpRef | None:
        """The experiment ``ref`` names, or ``None`` for any other ref.

        Queue, executor and apply state (``refs/exps/exec/EXEC_HEAD`` ...) and
        malformed refs give ``None``: they are not experiments.
        """
        parts = ref.split("/")
        if len(parts) != 5 or "/".join(parts[:2]) != EXPS_NAMESPACE:
            return None
        head, rest, name = parts[2], parts[3], parts[4]
        if head in _RESERVED or _name_problem(name):
            return None
        baseline = head + rest
        if len(head) != 2 or not _HEX40.match(baseline):
            return None
        return cls(baseline, name)


def baseline_prefix(baseline: str) -> str:
    """The ref folder holding every experiment of ``baseline``, with trailing ``/``."""
    return f"{EXPS_NAMESPACE}/{baseline[:2]}/{baseline[2:]}/"


def parse_ref_list(pairs: Sequence[tuple[str, str]]) -> list[tuple[ExpRef, str]]:
    """Keep the experiment refs of ``(ref, sha)`` pairs, as ``(ExpRef, sha)``."""
    found = []
    for ref, sha in pairs:
        exp = ExpRef.parse(ref)
        if exp is not None:
            found.append((exp, sha))
    return found


def list_exp_refs(git: Git, baseline: str | None = None) -> list[tuple[ExpRef, str]]:
    """Every experiment (of ``baseline``, a full SHA, if given) with its tip SHA."""
    prefix = baseline_prefix(baseline) if baseline else f"{EXPS_NAMESPACE}/"
    return parse_ref_list(git.for_each_ref(prefix))


def list_remote_exp_refs(git: Git, remote: str) -> list[tuple[ExpRef, str]]:
    """Every experiment on the Git remote ``remote`` (a name or URL), in one ``ls-remote``."""
    out = git.run(
        "ls-remote",
        "--refs",
        "--end-of-options",
        check_remote(remote),
        f"{EXPS_NAMESPACE}/*",
        hint=f"Check that '{remote}' is a Git remote ('git remote -v') or a URL you can reach",
    )
    pairs = []
    for line in out.splitlines():
        sha, _, ref = line.partition("\t")
        pairs.append((ref, sha))
    return parse_ref_list(pairs)


def pick_by_name(
    candidates: Sequence[tuple[ExpRef, str]], name: str, head: str | None
) -> tuple[ExpRef, str] | None:
    """The experiment called ``name`` among ``candidates``.

    The same name may exist under several baselines (§5.2): the one whose
    baseline is ``head`` wins; otherwise more than one match is an error
    that lists the full refs to choose from.
    """
    matches = [(exp, sha) for exp, sha in candidates if exp.name == name]
    if len(matches) <= 1:
        return matches[0] if matches else None
    at_head = [(exp, sha) for exp, sha in matches if exp.baseline == head]
    if len(at_head) == 1:
        return at_head[0]
    refs = ", ".join(exp.ref for exp, _ in matches)
    raise GitError(
        f"experiment name '{name}' is ambiguous: it exists for several baselines ({refs})",
        hint="Pass the full ref instead of the name, or check out the baseline you mean",
    )


def select_remote_exps(
    git: Git, remote: str, names: Sequence[str] | None, *, all_: bool
) -> list[tuple[ExpRef, str]]:
    """The experiments ``names`` (names or full refs) on ``remote``, or all of them.

    Same-named experiments are told apart as locally (:func:`pick_by_name`);
    an unknown name raises :class:`ExperimentNotFoundError`.
    """
    on_remote = list_remote_exp_refs(git, remote)
    if all_:
        return on_remote
    head = git.try_rev_parse("HEAD")
    selected = []
    for name in names or ():
        as_ref = ExpRef.parse(name)
        found = [e for e in on_remote if e[0] == as_ref] if as_ref else []
        picked = found[0] if found else pick_by_name(on_remote, name, head)
        if picked is None:
            raise ExperimentNotFoundError(
                f"experiment '{name}' not found on Git remote '{remote}'",
                hint=f"Run 'git ls-remote {remote} refs/exps/*' to see the experiments there",
            )
        selected.append(picked)
    return selected


def resolve_exp(git: Git, name_or_rev: str, *, baseline: str | None = None) -> tuple[ExpRef, str]:
    """Find an experiment by name, full ref or commit; return it with the SHA meant.

    Names win over revisions. A commit is accepted when it is an experiment's
    tip or one of its checkpoint commits (then that commit's SHA is returned).
    ``baseline`` (any revision) restricts the search to that baseline's
    experiments. Raises :class:`ExperimentNotFoundError` otherwise.
    """
    base = git.rev_parse(baseline) if baseline else None
    exps = list_exp_refs(git, base)
    as_ref = ExpRef.parse(name_or_rev)
    if as_ref is not None:
        found = [(exp, sha) for exp, sha in exps if exp == as_ref]
    else:
        head = git.try_rev_parse("HEAD")
        picked = pick_by_name(exps, name_or_rev, head)
        found = [picked] if picked else _by_commit(git, exps, name_or_rev)
    if not found:
        raise ExperimentNotFoundError(f"experiment '{name_or_rev}' not found", hint=NOT_FOUND_HINT)
    return found[0]


def _by_commit(git: Git, exps: Sequence[tuple[ExpRef, str]], rev: str) -> list[tuple[ExpRef, str]]:
    """Experiments whose tip, or a commit between tip and baseline, is ``rev``."""
    sha = git.try_rev_parse(rev)
    if sha is None:
        return []
    tips = [(exp, tip) for exp, tip in exps if tip == sha]
    if tips:
        return tips
    # NOTE: a checkpoint commit lies strictly between the baseline and the tip.
    contains = set(
        git.run(
            "for-each-ref", "--format=%(refname)", "--contains", sha, EXPS_NAMESPACE + "/"
        ).split()
    )
    return [
        (exp, sha)
        for exp, _ in exps
        if exp.ref in contains and exp.baseline != sha and git.is_ancestor(exp.baseline, sha)
    ]
