"""Restoring outputs: from the local cache by link type, from S3, and a no-op repro.

Data sets, created in a temporary folder (under ``--dir`` if given) and removed after:

- ``big``: one file of 1 GiB (``--quick``: 64 MiB).
- ``many``: 10,000 files totalling 1 GiB in 100 folders (``--quick``: 1,000 files, 64 MiB).

Figures:

- ``cache add``: hash (state DB) and store the data in a fresh local cache.
- ``checkout <link> (verify: re-read)``: a restore that verifies every object
  by reading it (md5 of the cache file), as when the state DB cannot vouch
  for it (issue #11 §2: nothing is handed out unchecked).
- ``checkout <link>``: each link type that works on this filesystem (reflink,
  hardlink, copy), verification on, with the state DB proving each object
  unchanged since it was verified (one ``stat`` per object; objects are
  recorded when stored and re-recorded after a hardlink moves their ctime).
- ``push to S3`` / ``fetch+checkout from S3``: a ``moto_server`` started on a free
  loopback port as a subprocess (as the tests do); fetch goes to an empty cache.
- ``push to <kind>`` / ``fetch+checkout from <kind>`` (``--kinds``): the same
  through every other remote kind's real local server, started as the
  conformance suite starts them (``tests/storage/conformance/servers.py``):
  SFTP (asyncssh), WebDAV (wsgidav), HTTP (``http.server`` with PUT), GCS
  (gcp-storage-emulator), Azure (Azurite, ``make test`` installs it) and
  WebHDFS (the tests' WebHDFS REST server). A failed round is reported,
  diagnosed and retried once, and never hides the other kinds.
- ``no-op repro``: the ``prefect-dvc repro`` command on a stage whose dep is the
  ``big`` file, with a warm state DB (it never imports Prefect).
- ``add``: ``prefect-dvc add`` (moves the data into the cache and links it
  back) beside real ``dvc add`` on the same data in twin repositories, in the
  same run, for one big file and for many files, with ``cache.type`` at DVC's
  default (``reflink,copy``) and ``hardlink``. ``--add-bytes``/``--add-files``
  set the sizes (default: those above), ``--add-only`` skips everything else,
  ``--dvc`` names DVC's executable (default: ``$PREFECT_DVC_TEST_DVC`` or ``dvc``).

Usage::

    python bench/bench_restore.py [--dir DIR] [--quick] [--jobs N] [--no-s3] [--kinds]
        [--add-only] [--add-bytes N] [--add-files N] [--dvc PATH]

Timings go to stdout only; nothing here is a test.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from prefect_dvc.errors import PrefectDvcError
from prefect_dvc.storage import links
from prefect_dvc.storage.hashinfo import HashInfo
from prefect_dvc.storage.hashing import RACY_WINDOW_NS, Hasher
from prefect_dvc.storage.objects import ObjectStore
from prefect_dvc.storage.state import StateDB

MiB = 1 << 20
CHUNK = 16 * MiB
CLI = str(Path(sys.executable).with_name("prefect-dvc"))
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


@dataclass(frozen=True)
class Row:
    figure: str
    seconds: float
    nbytes: int

    def render(self) -> str:
        rate = self.nbytes / self.seconds / 1e6 if self.seconds > 0 else float("inf")
        return f"{self.figure:<40} {self.seconds:>9.3f} {rate:>10,.0f}"


def timed(label: str, nbytes: int, call: Callable[[], object]) -> Row:
    start = time.perf_counter()
    call()
    row = Row(label, time.perf_counter() - start, nbytes)
    print(row.render(), flush=True)
    return row


def make_big(root: Path, nbytes: int) -> Path:
    path = root / "big.bin"
    path.parent.mkdir(parents=True, exist_ok=True)
    pool = os.urandom(CHUNK)
    with open(path, "wb") as fobj:
        for offset in range(0, nbytes, CHUNK):
            fobj.write(pool[: min(CHUNK, nbytes - offset)])
    return path


def make_many(root: Path, nbytes: int, count: int) -> Path:
    top = root / "many"
    pool = os.urandom(CHUNK)
    each = nbytes // count
    for i in range(count):
        path = top / f"d{i % 100:02d}" / f"f{i:05d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        start = (i * 4099) % (CHUNK - each - 1)
        if pool[start + each - 1 : start + each] == b"\r":
            # NOTE: gcp-storage-emulator drops a trailing CR from a multipart
            # upload's body (it parses it with email.parser); our verified
            # fetch then refuses the object. Real GCS keeps it; see README.
            start += 1
        path.write_bytes(pool[start : start + each])
    return top


def working_link_types(work: Path) -> list[str]:
    """The link types this filesystem supports (tried on a small file)."""
    probe = work / "probe.bin"
    probe.write_bytes(b"probe")
    found = []
    for kind in ("reflink", "hardlink", "copy"):
        dest = work / f"probe-{kind}"
        try:
            links.link(probe, dest, (kind,))
            found.append(kind)
        except Exception:  # NOTE: any failure means "not here"
            pass
        dest.unlink(missing_ok=True)
    return found


def remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def moto_server() -> Iterator[str]:
    exe = shutil.which("moto_server") or str(Path(sys.executable).parent / "moto_server")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [exe, "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **CREDENTIALS},
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(url + "/moto-api/", timeout=1)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto_server did not start") from None
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def bench_local(
    name: str, src: Path, work: Path, kinds: Sequence[str], jobs: int | None, nbytes: int
) -> tuple[ObjectStore, HashInfo]:
    state = StateDB(work / f"state-{name}.db")
    hasher = Hasher(state, jobs=jobs)
    store = ObjectStore.from_url(
        str(work / "cache"), verify=lambda p: hasher.hash_file(p).md5, state=state
    )
    rereads = ObjectStore.from_url(str(work / "cache"))  # verifies by md5 of every object
    info: HashInfo | None = None

    def add() -> None:
        nonlocal info
        info, tree = hasher.hash_path(src)
        if tree is None:
            store.add_file(src, info.md5)
        else:
            store.add_tree(src, tree, jobs=jobs)

    timed(f"{name}: cache add", nbytes, add)
    assert info is not None
    time.sleep(2 * RACY_WINDOW_NS / 1e9)  # let the cache files leave the racy window
    # NOTE: the re-read figure uses the last type (copy), which leaves the
    # objects' ctime alone, so the state DB still vouches for them afterwards.
    runs = [(kinds[-1], " (verify: re-read)", rereads)] if kinds else []
    # NOTE: hardlink last: deleting a hardlinked restore moves the objects'
    # ctime too, so the restore after it would have to re-read them.
    runs += [(kind, "", store) for kind in sorted(kinds, key=lambda k: k == "hardlink")]
    for kind, note, using in runs:
        dest = work / f"restored-{name}-{kind}"
        timed(
            f"{name}: checkout {kind}{note}",
            nbytes,
            lambda d=dest, k=kind, u=using: u.checkout(info, d, (k,), jobs=jobs),
        )
        remove(dest)
    return store, info


def bench_s3(
    name: str, store: ObjectStore, info: HashInfo, endpoint: str, work: Path, nbytes: int
) -> None:
    import s3fs

    options = {"key": "testing", "secret": "testing", "client_kwargs": {"endpoint_url": endpoint}}
    s3fs.S3FileSystem(**options).mkdir(f"bench-{name}")
    remote = ObjectStore.from_url(f"s3://bench-{name}/store", options)
    timed(f"{name}: push to S3", nbytes, lambda: store.transfer([info.md5], remote))
    fresh = ObjectStore.from_url(str(work / f"cache-s3-{name}"))
    dest = work / f"from-s3-{name}"

    def fetch_checkout() -> None:
        result = remote.transfer([info.md5], fresh)
        assert not result.missing, result.missing
        fresh.checkout(info, dest, ("reflink", "copy"))

    timed(f"{name}: fetch+checkout from S3", nbytes, fetch_checkout)


SERVERS = Path(__file__).resolve().parents[1] / "tests" / "storage" / "conformance"


@contextmanager
def kind_remotes(work: Path) -> Iterator[dict[str, tuple[str, dict[str, str]]]]:
    """Every local server kind, as ``{kind: (url, options)}``; stopped afterwards."""
    sys.path[:0] = [str(SERVERS), str(SERVERS.parents[1])]
    import adlfs
    import servers
    from gcsfs.core import GCSFileSystem

    stops = []
    for folder in ("sftp", "webdav", "http", "gcs", "azurite", "webhdfs"):
        (work / folder).mkdir()
    try:
        port, stop = servers.start_sftp(work / "sftp")
        stops.append(stop)
        ssh = (f"ssh://{servers.SSH_USER}@127.0.0.1/bench", {"port": str(port)})
        ssh[1]["password"] = servers.SSH_PASSWORD
        dav, stop = servers.start_webdav(work / "webdav")
        stops.append(stop)
        http, stop = servers.start_http(work / "http")
        stops.append(stop)
        gcs, stop = servers.start_gcs(work / "gcs")
        stops.append(stop)
        GCSFileSystem(endpoint_url=gcs, token="anon", skip_instance_cache=True).mkdir("bench")
        conn, stop = servers.start_azurite(work / "azurite")
        stops.append(stop)
        adlfs.AzureBlobFileSystem(connection_string=conn, skip_instance_cache=True).mkdir("bench")
        hdfs, stop = servers.start_webhdfs(work / "webhdfs")
        stops.append(stop)
        yield {
            "ssh": ssh,
            "webdav": (dav.replace("http://", "webdav://") + "/bench", {}),
            "http": (f"{http}/bench", {"method": "PUT"}),
            "gs": ("gs://bench/store", {"endpointurl": gcs, "allow_anonymous_login": "true"}),
            "azure": ("azure://bench/store", {"connection_string": conn}),
            "webhdfs": (f"webhdfs://{hdfs}/bench", {}),
        }
    finally:
        for stop in reversed(stops):
            stop()


def bench_kind(
    kind: str, url: str, options: dict[str, str], stores: dict[str, tuple[ObjectStore, HashInfo]]
) -> None:
    """Push and fetch each data set through ``kind``; a failed round is reported and retried once.

    A refused object (its bytes do not hash to its name) is re-read from the
    remote and said to be stored wrong or read wrong, so an emulator's defect
    shows as such; the retry uses a fresh prefix and a fresh local cache.
    """
    for name, (store, info) in stores.items():
        for attempt in (1, 2):
            try:
                _push_fetch(kind, f"{url}/{name}-{attempt}", options, name, store, info, attempt)
                break
            except PrefectDvcError as exc:
                why = _diagnose(exc, kind, url, options)
                print(f"{name}: {kind} round {attempt} FAILED: {exc}{why}")


def _push_fetch(
    kind: str,
    url: str,
    options: dict[str, str],
    name: str,
    store: ObjectStore,
    info: HashInfo,
    attempt: int,
) -> None:
    from prefect_dvc.config import RemoteConfig
    from prefect_dvc.storage.remotes import open_remote

    remote = open_remote(RemoteConfig(kind, url, tuple(options.items())))
    size = _size(store, info)
    timed(f"{name}: push to {kind}", size, lambda: store.transfer([info.md5], remote.objects))
    work = Path(store.location.root).parent
    fresh = ObjectStore.from_url(str(work / f"cache-{kind}-{name}-{attempt}"))
    dest = work / f"from-{kind}-{name}-{attempt}"

    def fetch_checkout() -> None:
        result = remote.objects.transfer([info.md5], fresh)
        assert not result.missing, result.missing
        fresh.checkout(info, dest, ("reflink", "copy"))

    timed(f"{name}: fetch+checkout from {kind}", size, fetch_checkout)
    remove(dest)


def _diagnose(exc: PrefectDvcError, kind: str, url: str, options: dict[str, str]) -> str:
    """For a refused object: are its bytes wrong on the remote itself, or only as read?"""
    import hashlib
    import re

    from prefect_dvc.config import RemoteConfig
    from prefect_dvc.storage.remotes import open_remote

    found = re.search(r"(\S+/files/md5/([0-9a-f]{2})/([0-9a-f]{30}))", str(exc))
    if found is None:
        return ""
    md5 = found.group(2) + found.group(3)
    objects = open_remote(RemoteConfig(kind, url, tuple(options.items()))).objects
    root = found.group(1).split("/files/md5/")[0].split("://", 1)[1]
    try:
        data = objects.fs.cat_file(f"{root}/files/md5/{md5[:2]}/{md5[2:]}")
    except Exception as again:  # NOTE: a diagnosis must not end the bench
        return f" [re-read failed: {type(again).__name__}]"
    stored = hashlib.md5(data).hexdigest()
    where = "stored wrong on the server" if stored != md5 else "stored right, read wrong"
    return f" [{where}: {len(data)} bytes, ends with {data[-2:]!r}]"


def _size(store: ObjectStore, info: HashInfo) -> int:
    if not info.is_dir:
        return os.path.getsize(store.oid_path(info.md5))
    return sum(os.path.getsize(store.oid_path(e.md5)) for e in store.read_tree(info.md5).entries)


def bench_noop_repro(work: Path, big: Path, nbytes: int) -> None:
    repo = work / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    (repo / ".dvc").mkdir()
    (repo / ".dvc" / "config").write_text("")
    (repo / "dvc.yaml").write_text(
        "stages:\n  size:\n    cmd: wc -c big.bin > size.txt\n"
        "    deps: [big.bin]\n    outs: [size.txt]\n"
    )
    os.link(big, repo / "big.bin")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    for _ in range(2):  # the first run executes the stage (starts Prefect)
        subprocess.run([CLI, "repro"], cwd=repo, env=env, check=True, capture_output=True)
    time.sleep(2 * RACY_WINDOW_NS / 1e9)
    subprocess.run([CLI, "status"], cwd=repo, env=env, check=True, capture_output=True)

    def noop() -> None:
        out = subprocess.run([CLI, "repro"], cwd=repo, env=env, check=True, capture_output=True)
        assert b"up to date" in out.stdout, out.stdout

    timed("no-op repro (1 dep, warm state DB)", nbytes, noop)


def _twin_repo(path: Path, cache_type: str | None) -> Path:
    path.mkdir(parents=True)
    subprocess.run(["git", "init", "-q"], cwd=path, check=True)
    (path / ".dvc").mkdir()
    config = f"[cache]\n    type = {cache_type}\n" if cache_type else ""
    (path / ".dvc" / "config").write_text(config)
    (path / ".dvc" / ".gitignore").write_text("/config.local\n/tmp\n/cache\n")
    return path


def bench_add(work: Path, nbytes: int, count: int, dvc: str) -> None:
    """``prefect-dvc add`` and ``dvc add`` of the same data, side by side."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    print(f"{'add':<40} {'prefect-dvc s':>13} {'dvc s':>9} {'ratio':>7}")
    for cache_type in (None, "hardlink"):
        for shape in ("big", "many"):
            seconds = {}
            for tool, exe in (("ours", CLI), ("dvc", dvc)):
                repo = _twin_repo(work / f"add-{shape}-{cache_type}-{tool}", cache_type)
                if shape == "big":
                    target = make_big(repo / "data", nbytes).relative_to(repo).parent
                else:
                    target = make_many(repo / "data", nbytes, count).relative_to(repo)
                time.sleep(2 * RACY_WINDOW_NS / 1e9)
                start = time.perf_counter()
                subprocess.run(
                    [exe, "add", "-q", str(target)],
                    cwd=repo,
                    env=env,
                    check=True,
                    capture_output=True,
                )
                seconds[tool] = time.perf_counter() - start
                remove(repo)
            label = f"add {shape} ({cache_type or 'reflink,copy'})"
            ratio = seconds["dvc"] / seconds["ours"] if seconds["ours"] > 0 else float("inf")
            print(
                f"{label:<40} {seconds['ours']:>13.3f} {seconds['dvc']:>9.3f} {ratio:>6.2f}x",
                flush=True,
            )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--dir", type=Path, help="where to create the data (default: $TMPDIR)")
    parser.add_argument("--quick", action="store_true", help="64 MiB and 1,000 files")
    parser.add_argument("--jobs", type=int, help="threads for hashing and transfers")
    parser.add_argument("--no-s3", action="store_true", help="skip the S3 figures")
    parser.add_argument(
        "--kinds", action="store_true", help="also push/pull through every local server kind"
    )
    parser.add_argument("--add-only", action="store_true", help="only the add figures")
    parser.add_argument("--add-bytes", type=int, help="bytes of data to add (default 1 GiB)")
    parser.add_argument("--add-files", type=int, help="files of the many-files add")
    parser.add_argument(
        "--dvc", default=os.environ.get("PREFECT_DVC_TEST_DVC") or "dvc", help="dvc to compare"
    )
    args = parser.parse_args(argv)
    nbytes, count = (64 * MiB, 1000) if args.quick else (1024 * MiB, 10_000)
    if args.add_only:
        with tempfile.TemporaryDirectory(prefix="bench-add-", dir=args.dir) as tmp:
            bench_add(Path(tmp), args.add_bytes or nbytes, args.add_files or count, args.dvc)
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-restore-", dir=args.dir) as tmp:
        work = Path(tmp)
        kinds = working_link_types(work)
        print(
            f"python {platform.python_version()}, {os.cpu_count()} CPUs, data {nbytes // MiB} MiB"
            f", {count} files; link types here: {', '.join(kinds)}"
        )
        big = make_big(work / "src", nbytes)
        many = make_many(work / "src", nbytes, count)
        time.sleep(2 * RACY_WINDOW_NS / 1e9)
        print(f"{'figure':<40} {'seconds':>9} {'MB/s':>10}")
        stores = {
            name: bench_local(name, src, work / name, kinds, args.jobs, nbytes)
            for name, src in (("big", big), ("many", many))
        }
        if not args.no_s3:
            with moto_server() as endpoint:
                for name, (store, info) in stores.items():
                    bench_s3(name, store, info, endpoint, work / name, nbytes)
        if args.kinds:
            with kind_remotes(work) as remotes:
                for kind, (url, options) in remotes.items():
                    bench_kind(kind, url, options, stores)
        bench_noop_repro(work, big, nbytes)
        bench_add(work, args.add_bytes or nbytes, args.add_files or count, args.dvc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
