"""The text-keyed YAML memo: parsed once per distinct text, never stale, never shared."""

from __future__ import annotations

import pytest

from prefect_dvc.errors import YamlSyntaxError
from prefect_dvc.yamlio import TextMemo, parse_yaml


def test_a_text_is_computed_once_and_callers_get_their_own_copy() -> None:
    memo, calls = TextMemo(size=2), []

    def compute() -> dict[str, list[int]]:
        calls.append(1)
        return {"a": [1]}

    first = memo.get("k", "a: [1]", compute)
    first["a"].append(2)
    second = memo.get("k", "a: [1]", compute)
    assert second == {"a": [1]} and len(calls) == 1
    memo.get("k", "b", compute), memo.get("k", "c", compute)  # evicts "a: [1]"
    memo.get("k", "a: [1]", compute)
    assert len(calls) == 4


def test_parse_yaml_follows_the_text_and_still_names_the_file_on_errors() -> None:
    assert parse_yaml("lr: 0.1\n") == {"lr": 0.1}
    parse_yaml("lr: 0.1\n")["lr"] = 5
    assert parse_yaml("lr: 0.1\n") == {"lr": 0.1}
    assert parse_yaml("lr: 0.2\n") == {"lr": 0.2}
    for name in ("one.yaml", "two.yaml"):
        with pytest.raises(YamlSyntaxError, match=f"^{name}:2: invalid YAML"):
            parse_yaml("a: [\n", name)
