"""The stage graph: edges from outs to deps, selection, and every graph error."""

from __future__ import annotations

import pytest

from prefect_dvc.errors import PipelineError
from prefect_dvc.translators.pipeline import (
    Out,
    ParamsDep,
    Pipeline,
    StageSpec,
    join_repo_path,
)


def stage(name: str, deps: tuple[str, ...] = (), outs: tuple[str, ...] = (), **kw) -> StageSpec:
    return StageSpec(
        name=name,
        cmd=f"run {name}",
        deps=deps,
        dep_repo_paths=deps,
        outs=tuple(Out(path=o, repo_path=o) for o in outs),
        line=kw.pop("line", None),
        **kw,
    )


def test_edges_follow_outs_to_deps_including_files_inside_out_dirs() -> None:
    p = Pipeline.build(
        [
            stage("prepare", deps=("raw.csv",), outs=("data",)),
            stage("train", deps=("data/train.csv",), outs=("model.pkl",)),
            stage("evaluate", deps=("model.pkl", "data"), outs=("metrics.json",)),
        ]
    )
    assert p.upstream == {"prepare": (), "train": ("prepare",), "evaluate": ("train", "prepare")}
    assert p.order() == ["prepare", "train", "evaluate"]
    assert p.downstream()["prepare"] == ["train", "evaluate"]


def test_dep_on_a_directory_that_contains_an_out_is_an_edge() -> None:
    p = Pipeline.build([stage("a", outs=("d/x.txt",)), stage("b", deps=("d",), outs=("y",))])
    assert p.upstream["b"] == ("a",)


def test_order_keeps_file_order_among_independent_stages() -> None:
    p = Pipeline.build([stage(n, outs=(f"{n}.txt",)) for n in ["c", "a", "b"]])
    assert p.order() == ["c", "a", "b"]


def test_select_upstream_downstream_single_and_groups() -> None:
    p = Pipeline.build(
        [
            stage("prep", outs=("p",)),
            stage("fe@a", deps=("p",), outs=("fa",)),
            stage("fe@b", deps=("p",), outs=("fb",)),
            stage("train", deps=("fa", "fb"), outs=("m",)),
        ]
    )
    assert p.select(["train"]) == ["prep", "fe@a", "fe@b", "train"]
    assert p.select(["fe"], single=True) == ["fe@a", "fe@b"]
    assert p.select(["fe@a"], downstream=True) == ["fe@a", "train"]
    with pytest.raises(PipelineError, match="stage 'nope' not found.*Known stages: prep"):
        p.select(["nope"])


def test_cycle_is_rejected_with_the_stage_names_and_line() -> None:
    with pytest.raises(PipelineError) as err:
        Pipeline.build(
            [
                stage("a", deps=("c.txt",), outs=("a.txt",), line=2),
                stage("b", deps=("a.txt",), outs=("b.txt",), line=6),
                stage("c", deps=("b.txt",), outs=("c.txt",), line=10),
            ]
        )
    text = str(err.value)
    assert text.startswith("dvc.yaml:")
    assert "form a cycle" in text
    assert {"a", "b", "c"} <= set(text.replace(">", " ").replace("-", " ").split())


def test_stage_reading_its_own_out_is_rejected() -> None:
    with pytest.raises(PipelineError, match="stage 'a': 'x' is both a dependency and an output"):
        Pipeline.build([stage("a", deps=("x",), outs=("x",), line=3)])


def test_two_stages_with_the_same_out_are_rejected() -> None:
    with pytest.raises(PipelineError) as err:
        Pipeline.build([stage("a", outs=("x.txt",)), stage("b", outs=("x.txt",), line=7)])
    assert str(err.value) == (
        "dvc.yaml:7: stage 'b': output 'x.txt' is also specified in stage 'a'. "
        "Each output must belong to exactly one stage."
    )


def test_overlapping_outs_are_rejected() -> None:
    with pytest.raises(PipelineError, match="output 'd/g.txt' is inside output 'd' of stage 'a'"):
        Pipeline.build([stage("a", outs=("d",)), stage("b", outs=("d/g.txt",))])


def test_duplicate_stage_name_is_rejected() -> None:
    with pytest.raises(PipelineError, match="stage 'a': stage is defined twice"):
        Pipeline.build([stage("a"), stage("a")])


@pytest.mark.parametrize("bad", ["../x", "a/../../x", "/etc/passwd"])
def test_paths_leaving_the_repository_are_rejected(bad: str) -> None:
    with pytest.raises(PipelineError, match="leaves the repository|is absolute"):
        join_repo_path(".", bad)


def test_join_repo_path_normalises_inside_wdir() -> None:
    assert join_repo_path("eval", "../models/m.json") == "models/m.json"
    assert join_repo_path("eval", "./plots/roc.csv") == "eval/plots/roc.csv"


def test_uncacheable_reasons_follow_dvc() -> None:
    normal = stage("n", deps=("a",), outs=("b",))
    assert normal.uncacheable_reason() is None
    persist = StageSpec("p", "c", deps=("a",), outs=(Out("b", "b", persist=True),))
    assert persist.uncacheable_reason() == "out 'b' is persist"
    nocache = StageSpec("n", "c", deps=("a",), outs=(Out("b", "b", cache=False),))
    assert nocache.uncacheable_reason() == "out 'b' has cache: false"
    metric = StageSpec(
        "m", "c", deps=("a",), outs=(Out("m.json", "m.json", kind="metric", cache=False),)
    )
    assert metric.uncacheable_reason() is None
    assert StageSpec("c", "echo hi").uncacheable_reason() == "it has no deps and no outs"
    params_only = StageSpec(
        "q", "c", params=(ParamsDep("params.yaml", "params.yaml", ("lr",)),), outs=(Out("o", "o"),)
    )
    assert params_only.uncacheable_reason() is None
    assert StageSpec(
        "a", "c", deps=("x",), outs=(Out("o", "o"),), always_changed=True
    ).uncacheable_reason()


def test_commands_split_lines_and_lists() -> None:
    assert StageSpec("a", "echo 1\necho 2\n").commands == ("echo 1", "echo 2")
    assert StageSpec("a", ("echo 1", "echo 2")).commands == ("echo 1", "echo 2")
    assert StageSpec("a", ("x",)).lock_cmd == ["x"]


def test_order_is_dvcs_plan_a_depth_first_post_order() -> None:
    # checked with networkx.dfs_postorder_nodes, which DVC's plan_repro uses
    p = Pipeline.build(
        [
            stage("top", deps=("b.txt", "a.txt"), outs=("top.txt",)),
            stage("a", outs=("a.txt",)),
            stage("b", outs=("b.txt",)),
            stage("gen@1", outs=("out/1",)),
            stage("gen@2", outs=("out/2",)),
            stage("summary", deps=("out",), outs=("s",)),
            stage("other", outs=("o",)),
        ]
    )
    assert p.order() == ["b", "a", "top", "gen@1", "gen@2", "summary", "other"]


def test_selected_stages_follow_the_plan_of_their_own_subgraph() -> None:
    p = Pipeline.build(
        [
            stage("x", deps=("a.txt",), outs=("x.txt",)),
            stage("b", outs=("b",)),
            stage("a", outs=("a.txt",)),
        ]
    )
    assert p.order() == ["a", "x", "b"]
    assert p.select(["b", "a"]) == ["b", "a"]
