"""The get-started shape with an unreachable or empty web default remote (issue #14).

"Done when: the get-started shape with an ``https://`` default remote runs
``status``, ``repro`` and ``exp run`` locally." The remote is real each time:
an ``https://`` URL on a closed loopback port, a plain HTTP server that holds
none of the objects, and an HTTPS server whose self-signed certificate the
client cannot verify. ``status`` must print what real DVC prints (neither
opens the remote for it); ``repro`` and ``exp run`` must succeed with at most
one warning line on stderr and no traceback.
"""

from __future__ import annotations

import datetime
import functools
import http.server
import ipaddress
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import free_port, git, run_dvc

pytestmark = [pytest.mark.prefect, pytest.mark.dvc_interop]
KINDS = ("closed-https-port", "empty-http-server", "self-signed-https-server")


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


class _Server(http.server.ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client refusing our certificate is the point, not noise


def _self_signed(folder: Path) -> ssl.SSLContext:
    """A server context for 127.0.0.1 with a fresh self-signed certificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    ip = x509.IPAddress(ipaddress.ip_address("127.0.0.1"))
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([ip]), critical=False)
        .sign(key, hashes.SHA256())
    )
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    return context


@pytest.fixture(scope="module")
def remotes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Each kind's remote URL; the servers serve an empty folder."""
    empty = tmp_path_factory.mktemp("empty-remote")
    handler = functools.partial(_Quiet, directory=str(empty))
    plain, secure = _Server(("127.0.0.1", 0), handler), _Server(("127.0.0.1", 0), handler)
    tls = tmp_path_factory.mktemp("tls")
    secure.socket = _self_signed(tls).wrap_socket(secure.socket, server_side=True)
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in (plain, secure)]
    for thread in threads:
        thread.start()
    yield {
        "closed-https-port": f"https://127.0.0.1:{free_port()}/dvc",
        "empty-http-server": f"http://127.0.0.1:{plain.server_address[1]}/dvc",
        "self-signed-https-server": f"https://127.0.0.1:{secure.server_address[1]}/dvc",
        "ca": str(tls / "cert.pem"),
    }
    for server in (plain, secure):
        server.shutdown()
        server.server_close()
    for thread in threads:
        thread.join(10)


def _same_status(repo: Path, cli) -> None:
    theirs = run_dvc(repo, "status")
    ours = cli(repo, "status")
    assert (ours.code, ours.out, ours.err) == (theirs.returncode, theirs.stdout, theirs.stderr)


def _at_most_one_warning(err: str) -> None:
    """Prefect's INFO log lines aside, stderr holds one warning line at most."""
    assert "Traceback" not in err and "ERROR" not in err, err
    warnings = [line for line in err.splitlines() if "WARNING" in line]
    assert len(warnings) <= 1, warnings


@pytest.mark.parametrize("kind", KINDS)
def test_get_started_runs_locally(
    example_repo: Path, cli, remotes: dict[str, str], kind: str
) -> None:
    added = cli(example_repo, "remote", "add", "-d", "origin", remotes[kind])
    assert added.code == 0, added.err
    git(example_repo, "commit", "-q", "-am", "default remote")
    _same_status(example_repo, cli)
    repro = cli(example_repo, "repro")
    assert repro.code == 0, repro.err
    _at_most_one_warning(repro.err)
    assert (example_repo / "dvc.lock").is_file()
    _same_status(example_repo, cli)
    git(example_repo, "add", "-A")
    git(example_repo, "commit", "-q", "-m", "reproduced")
    exp = cli(example_repo, "exp", "run", "-S", "prepare.seed=7", "-n", "seed7")
    assert exp.code == 0, exp.err
    _at_most_one_warning(exp.err)
    refs = git(example_repo, "for-each-ref", "--format=%(refname)", "refs/exps").split()
    assert len(refs) == 1 and refs[0].endswith("/seed7")
    assert "seed: 7" in git(example_repo, "show", f"{refs[0]}:params.yaml")
    _same_status(example_repo, cli)


def test_untrusted_certificate_is_named_in_one_line_with_the_option_to_trust_it(
    git_repo: Path, cli, remotes: dict[str, str]
) -> None:
    url = remotes["self-signed-https-server"]
    assert cli(git_repo, "remote", "add", "-d", "origin", url).code == 0
    config = (git_repo / ".dvc" / "config").read_bytes()
    for command in ("push", "pull", "fetch"):
        failed = cli(git_repo, command)
        assert failed.code == 1, failed.err
        assert failed.err.startswith(
            f"ERROR: cannot look up the root on remote '{url}': "
            "the server's TLS certificate cannot be verified ("
        )
        assert "ssl_verify <ca-bundle.pem>" in failed.err
        assert len(failed.err.strip().splitlines()) == 1
    assert (git_repo / ".dvc" / "config").read_bytes() == config
    # the hint works: trusting the server's own certificate lets push through
    assert cli(git_repo, "remote", "modify", "origin", "ssl_verify", remotes["ca"]).code == 0
    trusted = cli(git_repo, "push")
    assert trusted.code == 0, trusted.err


def test_untrusted_certificate_on_a_kind_without_ssl_verify_names_the_trust_store(
    git_repo: Path, cli, remotes: dict[str, str]
) -> None:
    """DVC's azure remote has no ssl_verify: the hint is OpenSSL's SSL_CERT_FILE."""
    import base64

    endpoint = remotes["self-signed-https-server"].removesuffix("/dvc")
    conn = (
        "DefaultEndpointsProtocol=https;AccountName=a;"
        f"AccountKey={base64.b64encode(b'k').decode()};BlobEndpoint={endpoint}/a;"
    )
    assert cli(git_repo, "remote", "add", "-d", "az", "azure://c/x").code == 0
    local = ("remote", "modify", "--local", "az", "connection_string", conn)
    assert cli(git_repo, *local).code == 0
    failed = cli(git_repo, "push")
    assert failed.code == 1 and len(failed.err.strip().splitlines()) == 1, failed.err
    assert "the server's TLS certificate cannot be verified" in failed.err
    assert failed.err.rstrip().endswith("SSL_CERT_FILE=<ca-bundle.pem> in the environment.")
    assert "ssl_verify" not in failed.err and "AccountKey" not in failed.err
