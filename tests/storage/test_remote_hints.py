"""Every remote hint names only options its kind has in real DVC's REMOTE_SCHEMAS.

The trial: an ``https://`` remote that did not resolve was told to check
``endpointurl``, an option only s3 and gs remotes have. Each kind x problem
hint (and the fallback hint of ``location.storage_errors``) is read for option
names; each must be one of that kind's options in ``dvc.config_schema``.
"""

from __future__ import annotations

import json
import re
import subprocess

import pytest
from helpers import dvc_python

from prefect_dvc.errors import RemoteError
from prefect_dvc.storage.location import open_location, storage_errors
from prefect_dvc.storage.remote_errors import Problem, describe

_DUMP = (
    "import json; from dvc.config_schema import REMOTE_SCHEMAS as S; "
    "print(json.dumps({k: sorted(str(o) for o in v) for k, v in S.items() "
    "if k and isinstance(v, dict) and k != 'remote'}))"
)


@pytest.fixture(scope="module")
def schemas() -> dict[str, set[str]]:
    """``{kind: its option names}`` from real DVC 3.67.1."""
    out = subprocess.run([dvc_python(), "-c", _DUMP], check=True, capture_output=True, text=True)
    return {kind: set(options) for kind, options in json.loads(out.stdout).items()}


def _foreign(hint: str, kind: str, schemas: dict[str, set[str]]) -> set[str]:
    """The option names in ``hint`` that belong to some kind but not to ``kind``.

    Quoted commands ('gcloud auth ...') are not options and are left out.
    """
    every = set().union(*schemas.values())
    words = set(re.findall(r"[a-z][a-z0-9_]*", re.sub(r"'[^']*'", "", hint)))
    return {w for w in words & every if w not in schemas[kind]}


def test_every_kind_and_problem_hint_uses_the_kinds_own_options(
    schemas: dict[str, set[str]],
) -> None:
    assert {"s3", "gs", "azure", "ssh", "http", "https", "webdav", "hdfs", "oss"} <= set(schemas)
    wrong = {}
    for kind in schemas:
        for problem in Problem:
            for code in ("403", "PartialCredentialsError"):
                _what, hint = describe(problem, code, kind, "b/p", "Name or service not known")
                if foreign := _foreign(hint, kind, schemas):
                    wrong[(kind, problem.name, code)] = (hint, foreign)
    assert wrong == {}


def test_an_unresolvable_https_remote_names_url_not_endpointurl() -> None:
    location = open_location("https://no-such-host.invalid/store")
    with pytest.raises(RemoteError) as raised, storage_errors(location, "upload"):
        location.fs.cat_file(location.join("ab"))
    text = str(raised.value)
    assert "remote 'https://no-such-host.invalid/store': the endpoint does not answer" in text
    assert "Check the remote's url and your network" in text and "endpointurl" not in text


@pytest.mark.parametrize(
    ("kind", "expected"),
    [("s3", "url and endpointurl"), ("gs", "url and endpointurl"), ("oss", "url and oss_endpoint")],
)
def test_the_endpoint_option_is_named_only_where_it_exists(kind: str, expected: str) -> None:
    _what, hint = describe(Problem.UNREACHABLE, "ConnectError", kind, "b/p", "refused")
    assert f"Check the remote's {expected} and your network" in hint
