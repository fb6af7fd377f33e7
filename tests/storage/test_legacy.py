"""DVC 2's ``md5-dos2unix`` hash and DVC 2's cache layout, against DVC 3.67.1's own code."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest
from dvc2 import dos2unix_md5
from helpers import dvc_python, gen

from prefect_dvc.errors import CorruptObjectError
from prefect_dvc.storage.gc_scan import check_lock_text, scan_used
from prefect_dvc.storage.hashinfo import HashInfo
from prefect_dvc.storage.hashing import Hasher
from prefect_dvc.storage.legacy import Dos2UnixMd5, legacy_oid, md5_dos2unix_file
from prefect_dvc.storage.objects import ObjectStore
from prefect_dvc.storage.state import StateDB
from prefect_dvc.storage.verify import verify_store

MiB = 1 << 20

# NOTE: each one a way the per-1-MiB-block text test and CRLF rewrite can go wrong.
HOSTILE = {
    "empty": b"",
    "crlf.csv": b"a,b\r\n1,2\r\n",
    "lf.txt": b"a\nb\n",
    "lone-cr": b"a\rb\r\r\nc\r",
    "binary-crlf": bytes(range(256)) * 4 + b"\r\n",
    "nul-late": b"x\r\n" * 200 + b"\x00",
    "crlf-across-block": b"x" * (MiB - 1) + b"\r\n" + b"y\r\n" * 10,
    "text-then-binary": b"l\r\n" * (MiB // 3 + 1) + b"\x00" * 600 + b"\r\n" * 5,
    "binary-then-text": b"\x00" * MiB + b"a\r\n" * 100,
    "big-text": b"line\r\n" * (3 * MiB // 6 + 7),
    "exactly-one-block": b"ab\r\n" * (MiB // 4),
    "utf8": "h\u00e9llo w\u00f6rld\r\n".encode() * 50,
    "mostly-high": bytes(range(128, 256)) * 3 + b"\r\n",
}

DVC_HASH = """
import json, sys
from dvc_data.hashfile.hash import file_md5
print(json.dumps({n: file_md5(p, name="md5-dos2unix") for n, p in json.loads(sys.argv[1]).items()}))
"""


@pytest.fixture(scope="module")
def hostile_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("hostile")
    paths = {}
    for name, data in HOSTILE.items():
        paths[name] = folder / name
        paths[name].write_bytes(data)
    return paths


@pytest.fixture(scope="module")
def dvc_values(hostile_files: dict[str, Path]) -> dict[str, str]:
    """What DVC 3.67.1's own ``file_md5(name="md5-dos2unix")`` says for each file."""
    arg = json.dumps({n: str(p) for n, p in hostile_files.items()})
    out = subprocess.run(
        [dvc_python(), "-c", DVC_HASH, arg], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)


def test_file_hash_matches_dvc_on_hostile_files(
    hostile_files: dict[str, Path], dvc_values: dict[str, str]
) -> None:
    ours = {name: md5_dos2unix_file(path) for name, path in hostile_files.items()}
    assert ours == dvc_values
    # NOTE: the fixture writer of tests/dvc2.py must agree too, or the twins lie.
    assert {n: dos2unix_md5(d) for n, d in HOSTILE.items()} == dvc_values


def test_hasher_legacy_matches_dvc_and_keeps_kinds_apart_in_state(
    tmp_path: Path, hostile_files: dict[str, Path], dvc_values: dict[str, str]
) -> None:
    with StateDB(tmp_path / "state.db") as state:
        hasher = Hasher(state, jobs=2)
        for _ in range(2):  # the second round answers from the state DB
            legacy = [i.md5 for i, _ in hasher.hash_many(list(hostile_files.values()), legacy=True)]
            raw = [i.md5 for i, _ in hasher.hash_many(list(hostile_files.values()))]
            assert legacy == list(dvc_values.values())
            assert raw == [
                Hasher().hash_file(p).md5 for p in hostile_files.values()
            ]  # never a legacy value
        crlf = hostile_files["crlf.csv"]
        assert hasher.hash_file(crlf, legacy=True).legacy
        assert hasher.hash_file(crlf, legacy=True).md5 != hasher.hash_file(crlf).md5


def test_incremental_hasher_regroups_pieces_into_blocks(dvc_values: dict[str, str]) -> None:
    data = HOSTILE["crlf-across-block"]
    digest = Dos2UnixMd5()
    for start in range(0, len(data), 77_777):
        digest.update(data[start : start + 77_777])
    assert digest.hexdigest() == dvc_values["crlf-across-block"]


def test_legacy_dir_hash_is_plain_md5_of_legacy_manifest(tmp_path: Path) -> None:
    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "a.csv").write_bytes(b"1\r\n")
    (folder / "b.bin").write_bytes(b"\x00\r\n")
    info, tree = Hasher().hash_dir(folder, legacy=True)
    manifest = json.dumps(
        [
            {"md5": dos2unix_md5(b"1\r\n"), "relpath": "a.csv"},
            {"md5": dos2unix_md5(b"\x00\r\n"), "relpath": "b.bin"},
        ],
        sort_keys=True,
    ).encode()
    assert tree.manifest_bytes() == manifest
    assert info.md5 == hashlib.md5(manifest).hexdigest() + ".dir"
    assert info.legacy and info.nfiles == 2 and info.size == 6


def test_lock_item_round_trip_keeps_dvc2_form() -> None:
    item = {"path": "data.csv", "md5": "0" * 32, "size": 4}
    info = HashInfo.from_lock(item)
    assert info is not None and info.legacy and info.oid == legacy_oid("0" * 32)
    assert info.to_lock("data.csv") == item
    assert HashInfo.from_lock({**item, "hash": "md5"}) == HashInfo("0" * 32, 4)
    assert HashInfo.from_lock({**item, "hash": "sha256"}) is None


def _legacy_cache(root: Path) -> tuple[ObjectStore, HashInfo]:
    """A DVC 2 cache holding one directory (a CRLF text file and a binary file)."""
    src = root / "src"
    src.mkdir()
    (src / "t.csv").write_bytes(b"a\r\nb\r\n")
    (src / "x.bin").write_bytes(b"\x00\x01\r\n")
    info, tree = Hasher().hash_dir(src, legacy=True)
    store = ObjectStore.from_url(str(root / "cache"))
    store.add_tree(src, tree, legacy=True)
    return store, info


def test_legacy_objects_live_in_dvc2_layout_and_check_out(tmp_path: Path) -> None:
    store, info = _legacy_cache(tmp_path)
    cache = tmp_path / "cache"
    names = sorted(p.relative_to(cache).as_posix() for p in cache.rglob("*") if p.is_file())
    t_md5 = dos2unix_md5(b"a\r\nb\r\n")
    assert f"{t_md5[:2]}/{t_md5[2:]}" in names
    assert f"{info.md5[:2]}/{info.md5[2:]}" in names
    assert not (cache / "files").exists()
    assert store.all_objects() == {
        info.oid,
        legacy_oid(t_md5),
        legacy_oid(dos2unix_md5(b"\x00\x01\r\n")),
    }
    assert store.existing([info.oid, info.md5]) == {info.oid}
    dest = tmp_path / "ws" / "out"
    dest.parent.mkdir()
    store.checkout(info, dest)
    assert (dest / "t.csv").read_bytes() == b"a\r\nb\r\n"
    assert (dest / "x.bin").read_bytes() == b"\x00\x01\r\n"
    assert verify_store(store).bad == ()


def test_corrupt_legacy_object_is_refused_and_reported(tmp_path: Path) -> None:
    store, info = _legacy_cache(tmp_path)
    t_md5 = dos2unix_md5(b"a\r\nb\r\n")
    obj = tmp_path / "cache" / t_md5[:2] / t_md5[2:]
    obj.chmod(0o644)
    obj.write_bytes(b"a\nb\nc\n")
    dest = tmp_path / "out"
    with pytest.raises(CorruptObjectError, match=t_md5[2:]):
        store.checkout(info, dest)
    assert not dest.exists()
    assert [b.oid for b in verify_store(store).bad] == [legacy_oid(t_md5)]


def test_legacy_transfer_to_another_store_keeps_dvc2_layout(tmp_path: Path) -> None:
    store, info = _legacy_cache(tmp_path)
    other = ObjectStore.from_url(f"file://{tmp_path / 'remote'}")
    result = store.transfer([info.oid], other)
    assert len(result.transferred) == 3 and not result.missing
    assert other.all_objects() == store.all_objects()
    assert not (tmp_path / "remote" / "files").exists()


DVC2_LOCK = f"""\
schema: '2.0'
stages:
  s:
    cmd: cp in.txt out.txt
    deps:
    - path: in.txt
      md5: {"c" * 32}
      size: 2
    outs:
    - path: out.txt
      md5: {"a" * 32}
      size: 2
"""


def test_gc_keeps_what_a_dvc2_lock_names_even_when_damaged(git_repo: Path) -> None:
    assert check_lock_text(DVC2_LOCK, "lock") == (
        {legacy_oid("a" * 32), legacy_oid("c" * 32)},
        None,
    )
    gen(git_repo, {"dvc.lock": DVC2_LOCK[: DVC2_LOCK.index("a" * 32) + 32]})
    used = scan_used(git_repo, [])
    assert used.unreadable and legacy_oid("a" * 32) in used.md5s


def test_legacy_objects_round_trip_through_s3_in_dvc2_layout(
    tmp_path: Path, s3_endpoint: str, s3_bucket: str
) -> None:
    """Push to S3 and pull into an empty cache: keys are ``<prefix>/<h[:2]>/<h[2:]>``."""
    store, info = _legacy_cache(tmp_path)
    options = {
        "key": "testing",
        "secret": "testing",
        "client_kwargs": {"endpoint_url": s3_endpoint},
    }
    remote = ObjectStore.from_url(f"s3://{s3_bucket}/store", options)
    # a DVC 3 object beside them must not be mistaken for a DVC 2 one (and the reverse)
    remote.add_bytes(b"[]", "d751713988987e9331980363e24189ce.dir")
    pushed = store.transfer([info.oid], remote)
    assert len(pushed.transferred) == 3 and not pushed.missing
    keys = sorted(k.split("/store/", 1)[1] for k in remote.fs.find(f"{s3_bucket}/store"))
    assert keys == sorted(
        [f"{o.split(':')[1][:2]}/{o.split(':')[1][2:]}" for o in store.all_objects()]
        + ["files/md5/d7/51713988987e9331980363e24189ce.dir"]
    )
    assert remote.all_objects() == store.all_objects() | {"d751713988987e9331980363e24189ce.dir"}
    assert remote.existing([info.oid, info.md5]) == {info.oid}
    local = ObjectStore.from_url(str(tmp_path / "fresh"))
    pulled = remote.transfer([info.oid], local)
    assert len(pulled.transferred) == 3 and not pulled.missing
    dest = tmp_path / "out"
    local.checkout(info, dest)
    assert (dest / "t.csv").read_bytes() == b"a\r\nb\r\n"
    assert verify_store(remote).bad == ()
