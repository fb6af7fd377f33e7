"""Names for Prefect artifacts.

Artifact keys must match ``^[a-z0-9-]*$`` (Prefect rejects anything else),
while DVC names contain ``@``, ``.`` and upper case (``train@lr-0.1``); keys
are also how users find an experiment's artifacts in the UI, so they stay
readable rather than hashed.
"""

from __future__ import annotations

import re

_INVALID = re.compile(r"[^a-z0-9]+")


def artifact_key(*parts: str) -> str:
    """``artifact_key("exp", "Gaunt_Owls@1")`` -> ``"exp-gaunt-owls-1"``."""
    slug = "-".join(_INVALID.sub("-", part.lower()).strip("-") for part in parts if part)
    return re.sub(r"-{2,}", "-", slug).strip("-")[:200] or "prefect-dvc"
