"""One conformance suite over every remote kind, each against its real server.

What a kind cannot do (HTTP: list, delete, hold a run-cache) is asserted as
a one-line error, never skipped.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import Result, Store
from helpers import gen, git

from prefect_dvc.errors import CorruptObjectError, MissingObjectError, RemoteError
from prefect_dvc.storage.objects import ObjectStore
from prefect_dvc.storage.remotes import open_remote
from prefect_dvc.storage.runcache import RunCache

pytestmark = pytest.mark.slow


def _objects(tmp: Path, count: int) -> tuple[ObjectStore, dict[str, bytes]]:
    """A local cache holding ``count`` small objects with distinct 2-char prefixes."""
    cache = ObjectStore.from_url(str(tmp / "cache"))
    made: dict[str, bytes] = {}
    n = 0
    while len(made) < count:
        data = f"object {n}\n".encode()
        md5 = hashlib.md5(data).hexdigest()
        n += 1
        if md5[:2] in {m[:2] for m in made}:
            continue
        src = tmp / f"src-{n}"
        src.write_bytes(data)
        cache.add_file(src, md5)
        made[md5] = data
    return cache, made


def _one_line(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text.strip(), text
    return text


def test_put_get_exists_and_verified_restore(store: Store, tmp_path: Path) -> None:
    local, made = _objects(tmp_path, 3)
    remote = open_remote(store.config())
    first, second, third = sorted(made)
    sent = local.transfer([first, second], remote.objects)
    assert sorted(sent.transferred) == [first, second] and not sent.missing
    assert remote.objects.exists(first) and not remote.objects.exists(third)
    fresh = ObjectStore.from_url(str(tmp_path / "fresh"))
    got = remote.objects.transfer([first, second, third], fresh)
    assert got.missing == (third,)
    assert Path(fresh.oid_path(first)).read_bytes() == made[first]
    # NOTE: bytes changed on the server are refused on the way back, never restored.
    if store.can_list:
        remote.objects.fs.rm_file(remote.objects.oid_path(second))
    remote.objects.fs.pipe_file(remote.objects.oid_path(second), b"tampered\n")
    other = ObjectStore.from_url(str(tmp_path / "other"))
    with pytest.raises(CorruptObjectError) as caught:
        remote.objects.transfer([second], other)
    assert second in _one_line(caught.value)
    assert not Path(other.oid_path(second)).exists()


def test_bulk_listing(store: Store, tmp_path: Path) -> None:
    local, made = _objects(tmp_path, 12)
    remote = open_remote(store.config())
    local.transfer(sorted(made), remote.objects)
    absent = "0" * 32
    assert remote.objects.existing([*made, absent]) == set(made)
    if store.can_list:
        assert remote.objects.all_objects() == set(made)
    else:
        with pytest.raises(RemoteError) as caught:
            remote.objects.all_objects()
        assert "cannot list" in _one_line(caught.value)


def test_delete(store: Store, tmp_path: Path) -> None:
    local, made = _objects(tmp_path, 2)
    remote = open_remote(store.config())
    local.transfer(sorted(made), remote.objects)
    gone, kept = sorted(made)
    if not store.can_list:
        with pytest.raises(RemoteError) as caught:
            remote.objects.remove([gone])
        assert "cannot list" in _one_line(caught.value)
        assert remote.objects.exists(gone)
        return
    remote.objects.remove([gone])
    assert not remote.objects.exists(gone) and remote.objects.exists(kept)


def test_atomic_visibility_of_objects(store: Store, tmp_path: Path) -> None:
    remote = open_remote(store.config())
    path = remote.objects.oid_path("ab" + "c" * 30)
    fs = remote.objects.fs
    fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
    sink = fs.open(path, "wb", autocommit=False)
    sink.write(b"half of it")
    sink.close()
    # NOTE: written but not committed: no reader may see it under its name.
    assert not fs.exists(path)
    sink.commit()
    assert bytes(fs.cat_file(path)) == b"half of it"


def test_writing_an_existing_object_again_leaves_nothing_behind(store: Store) -> None:
    """A second writer of the same object (same bytes) ends with one object, no temporary."""
    remote = open_remote(store.config())
    data = b"written twice"
    md5 = hashlib.md5(data).hexdigest()
    remote.objects.add_bytes(data, md5)
    # NOTE: a second writer that looked before the first one finished.
    remote.objects.fs.pipe_file(remote.objects.oid_path(md5), data)
    assert remote.objects.read_bytes(md5) == data
    if store.can_list:
        folder = remote.objects.oid_path(md5).rsplit("/", 1)[0]
        assert [p.rsplit("/", 1)[1] for p in remote.objects.fs.ls(folder, detail=False)] == [
            md5[2:]
        ]
    else:
        with pytest.raises(RemoteError, match="cannot list"):
            remote.objects.all_objects()


ENTRY = {
    "cmd": "echo hi > out",
    "deps": [{"path": "in", "hash": "md5", "md5": "a" * 32, "size": 3}],
    "outs": [{"path": "out", "hash": "md5", "md5": "b" * 32, "size": 3}],
}


def test_run_cache_entries(store: Store) -> None:
    remote = open_remote(store.config())
    if not store.can_list:
        with pytest.raises(RemoteError) as caught:
            remote.runs.save(ENTRY)
        assert "cannot list" in _one_line(caught.value)
        with pytest.raises(RemoteError):
            list(remote.runs.lookup_all(ENTRY))
        return
    key, value = remote.runs.save(ENTRY)
    assert remote.runs.entries() == [(key, value)]
    found = list(remote.runs.lookup_all(ENTRY))
    assert [e["cmd"] for e in found] == [ENTRY["cmd"]]
    names = [str(n) for n in remote.runs.location.fs.find(remote.runs.location.join("runs"))]
    assert all(not n.rsplit("/", 1)[-1].startswith(".") for n in names), names
    RunCache(remote.runs.location).save(ENTRY)  # NOTE: an identical entry is left alone
    assert remote.runs.entries() == [(key, value)]


# ------------------------------------------------------------------ CLI round trips

PIPELINE = {
    "dvc.yaml": (
        "stages:\n  make:\n    cmd: python make.py\n    deps: [make.py]\n    outs: [data]\n"
    ),
    "make.py": (
        "import pathlib\n"
        "pathlib.Path('data').mkdir(exist_ok=True)\n"
        "pathlib.Path('data/a.txt').write_text('alpha\\n')\n"
        "pathlib.Path('data/b.txt').write_text('beta\\n')\n"
        "with open('../runs.log', 'a') as log:\n    log.write('ran\\n')\n"
    ),
    ".gitignore": "/data\n",
}


def _configure(root: Path, store: Store) -> None:
    config = f"[core]\n    remote = store\n['remote \"store\"']\n    url = {store.url}\n"
    local = "['remote \"store\"']\n" + "".join(f"    {k} = {v}\n" for k, v in store.options.items())
    gen(root, {".dvc/config": config, ".dvc/config.local": local})


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, cli: Callable[..., Result]) -> Path:
    """A repository whose stage ran once (dvc.lock committed, cache and run-cache filled)."""
    root = tmp_path_factory.mktemp("built") / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    gen(root, {".dvc/config": "", ".dvc/.gitignore": "/config.local\n/tmp\n/cache\n", **PIPELINE})
    done = cli(root, "repro")
    assert done.code == 0, done.err
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "pipeline")
    return root


def test_push_pull_fetch_gc_and_repro_from_remote_run_cache(
    served_store: Store, tmp_path: Path, built: Path, cli: Callable[..., Result]
) -> None:
    store = served_store
    repo = tmp_path / "repo"
    shutil.copytree(built, repo, symlinks=True)
    _configure(repo, store)
    log = tmp_path / "runs.log"
    pushed = cli(repo, "push", "--run-cache")
    if store.can_list:
        assert pushed.code == 0, pushed.err
    else:
        assert pushed.code != 0 and "cannot list" in pushed.err
        assert len(pushed.err.strip().splitlines()) == 1, pushed.err
        assert cli(repo, "push").code == 0
    shutil.rmtree(repo / ".dvc" / "cache")
    shutil.rmtree(repo / "data")
    pulled = cli(repo, "pull")
    assert pulled.code == 0, pulled.err
    assert (repo / "data" / "b.txt").read_text() == "beta\n"
    assert cli(repo, "fetch").code == 0
    gc = cli(repo, "gc", "-w", "-c", "-f")
    if store.can_list:
        assert gc.code == 0, gc.err
        assert open_remote(store.config()).objects.all_objects(), "gc removed used objects"
    else:
        assert gc.code != 0 and len(gc.err.strip().splitlines()) == 1, gc.err
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    _configure(clone, store)
    again = cli(clone, "repro")
    assert again.code == 0, again.err
    assert (clone / "data" / "a.txt").read_text() == "alpha\n"
    # NOTE: a kind that can list restores from its run-cache; HTTP runs the stage.
    runs = log.read_text().count("ran") if log.exists() else 0
    assert runs == (0 if store.can_list else 1), again.err


def test_missing_object_is_named(store: Store, tmp_path: Path) -> None:
    remote = open_remote(store.config())
    fresh = ObjectStore.from_url(str(tmp_path / "fresh"))
    md5 = "d" * 32
    result = remote.objects.transfer([md5], fresh)
    assert result.missing == (md5,)
    with pytest.raises(MissingObjectError):
        remote.objects.read_bytes(md5)
