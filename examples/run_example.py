"""What ``make run`` does: the example project through ``prefect-dvc exp run``.

Copies ``examples/get-started`` into a fresh temporary Git repository, runs
two experiments with different params on the embedded default (one local
Prefect server started in the background by the first command, used by the
second) and the local cache, and prints the comparison table, where
everything is, and where the runs are in the Prefect UI.
Each step is the command a user would type, so the output doubles as a demo.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
EXAMPLE = HERE / "get-started"
CLI = str(Path(sys.executable).with_name("prefect-dvc"))


def _env() -> dict[str, str]:
    """The environment, with a Git identity if the machine has none (fresh CI boxes)."""
    env = dict(os.environ)
    named = subprocess.run(["git", "config", "user.name"], capture_output=True, text=True)
    if not named.stdout.strip():
        for role in ("AUTHOR", "COMMITTER"):
            env.setdefault(f"GIT_{role}_NAME", "prefect-dvc example")
            env.setdefault(f"GIT_{role}_EMAIL", "example@prefect-dvc.invalid")
    return env


ENV = _env()


def sh(*argv: str, cwd: Path) -> None:
    """Echo and run one command; stop the demo if it fails."""
    print(f"\n$ {' '.join(argv)}", flush=True)
    result = subprocess.run(argv, cwd=cwd, env=ENV)
    if result.returncode != 0:
        sys.exit(f"'{' '.join(argv)}' failed with exit code {result.returncode}")


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="prefect-dvc-example-"))
    repo = work / "get-started"
    shutil.copytree(EXAMPLE, repo)
    sh("git", "init", "-q", "-b", "main", cwd=repo)
    sh(CLI, "init", cwd=repo)
    sh("git", "add", "-A", cwd=repo)
    sh("git", "commit", "-q", "-m", "Example project", cwd=repo)
    sh(CLI, "exp", "run", "-n", "baseline-lr", cwd=repo)
    sh(CLI, "exp", "run", "-n", "higher-lr", "-S", "train.lr=0.3", cwd=repo)
    # The columns a reader compares: the best model's metrics and the changed param.
    sh(CLI, "exp", "show", "--only-changed", "--drop", "models|data/|src/", cwd=repo)
    print(
        f"\nResults are in {repo}:\n"
        f"  metrics     {repo / 'eval' / 'metrics.json'}\n"
        f"  dvc.lock    {repo / 'dvc.lock'}\n"
        f"  cache       {repo / '.dvc' / 'cache'}\n"
        f"  experiments git -C {repo} for-each-ref refs/exps\n"
        f"Try: cd {repo} && {CLI} exp show"
    )
    _point_at_ui()


def _point_at_ui() -> None:
    """Say where the runs are: the server the experiments used, and how to stop it."""
    if os.environ.get("PREFECT_API_URL"):
        print(f"\nThe runs are on your Prefect API: {os.environ['PREFECT_API_URL']}")
        return
    from prefect_dvc.flows.server import find_local_server

    url = find_local_server()
    if url:
        print(
            f"\nThe flow runs and task runs are in the Prefect UI: {url.removesuffix('/api')}\n"
            f"The server stops by itself after 30 min unused; stop it now with:"
            f" {CLI} server stop"
        )


if __name__ == "__main__":
    main()
