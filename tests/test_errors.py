"""The exception tree: one-line messages with location and advice, pickle-safe."""

from __future__ import annotations

import pickle

from prefect_dvc.errors import (
    PipelineError,
    PrefectDvcError,
    SchemaError,
    StageFailedError,
)


def test_message_names_file_line_stage_and_advice_on_one_line() -> None:
    err = SchemaError(
        "unknown key 'command'\n(typo?)",
        path="dvc.yaml",
        line=3,
        stage="a",
        hint="Check the spelling",
    )
    assert str(err) == "dvc.yaml:3: stage 'a': unknown key 'command' (typo?). Check the spelling."
    assert isinstance(err, PrefectDvcError)
    assert err.exit_code == 1


def test_errors_survive_pickling_with_their_attributes() -> None:
    err = StageFailedError(
        "command failed",
        returncode=3,
        tail="boom",
        stage="train",
        path="dvc.yaml",
        line=9,
        hint="Fix it",
    )
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is StageFailedError
    assert str(back) == str(err)
    assert (back.returncode, back.tail, back.stage, back.line) == (3, "boom", "train", 9)
    plain = pickle.loads(pickle.dumps(PipelineError("cycle", path="dvc.yaml")))
    assert str(plain) == "dvc.yaml: cycle."
