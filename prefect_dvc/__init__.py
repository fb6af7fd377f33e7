"""prefect-dvc: DVC pipelines and experiments on Prefect, in DVC 3's file formats.

Provides:
    make_checkpoint(): called from a checkpoint stage's Python code, records a
        checkpoint of the experiment and returns (a no-op elsewhere).

Kept free of Prefect (and of everything heavy): stage code imports this
package, and ``prefect-dvc status`` must not pay Prefect's import.
"""

from prefect_dvc.checkpoints.api import make_checkpoint

__all__ = ["make_checkpoint"]
