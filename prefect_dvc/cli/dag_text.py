"""``dag --mermaid`` / ``--md`` text, byte for byte as ``dvc dag`` prints it.

Follows ``dvc/commands/dag.py::_show_mermaid``: one block per connected
pipeline (``get_pipelines``: weakly connected components), its stages
sorted by name and numbered ``node1``, ``node2``… across the whole graph,
then its edges sorted as ``(upstream, downstream)`` pairs; ``--md`` wraps
the flowchart in a ```` ```mermaid ```` block.
"""

from __future__ import annotations

from collections.abc import Sequence


def _components(names: Sequence[str], edges: Sequence[tuple[str, str]]) -> list[list[str]]:
    """Weakly connected components, in order of their first stage in ``names``."""
    parent = {name: name for name in names}
    for up, down in edges:
        parent[_find(parent, up)] = _find(parent, down)
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(_find(parent, name), []).append(name)
    return list(groups.values())


def _find(parent: dict[str, str], name: str) -> str:
    while parent[name] != name:
        name = parent[name]
    return name


def mermaid(names: Sequence[str], edges: Sequence[tuple[str, str]], *, markdown: bool) -> str:
    """The flowchart of stages ``names`` with ``edges`` as ``(upstream, downstream)`` pairs."""
    lines = ["flowchart TD"]
    total = 0
    for component in _components(names, edges):
        ids: dict[str, str] = {}
        for name in sorted(component):
            total += 1
            ids[name] = f"node{total}"
            lines.append(f'\t{ids[name]}["{name}"]')
        inside = sorted((a, b) for a, b in edges if a in ids and b in ids)
        lines += [f"\t{ids[a]}-->{ids[b]}" for a, b in inside]
    text = "\n".join(lines)
    return f"```mermaid\n{text}\n```" if markdown else text
