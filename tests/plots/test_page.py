"""The HTML page in a real headless Chromium: every plot drawn, no error, no network.

All of Chromium's traffic is sent to a local proxy that records every
connection, so a page that tried to load a script, font or schema from the
internet would be caught (``file://`` loads never go through a proxy).
"""

from __future__ import annotations

import re
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import chromium_bin, gen, git

from prefect_dvc.plots import collect_plots, diff_revisions, write_html

_BROWSER_OWN = re.compile(rb"^(GET|POST|CONNECT) \S*(google\.com|googleapis\.com|gstatic\.com)[:/]")


@pytest.fixture
def proxy() -> Iterator[tuple[int, list[bytes]]]:
    """A TCP listener that records the first bytes of each connection and closes it."""
    seen: list[bytes] = []
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(1)
                try:
                    seen.append(conn.recv(200))
                except OSError:
                    seen.append(b"?")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], seen
    stop.set()
    thread.join(timeout=5)
    server.close()


def _chromium_dom(page: Path, profile: Path, proxy_port: int) -> tuple[str, str]:
    proc = subprocess.run(
        [
            chromium_bin(),
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={profile}",
            f"--proxy-server=127.0.0.1:{proxy_port}",
            "--proxy-bypass-list=<-loopback>",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=10000",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return proc.stdout, proc.stderr


def test_page_draws_every_plot_offline(
    git_repo: Path, tmp_path: Path, proxy: tuple[int, list[bytes]]
) -> None:
    gen(
        git_repo,
        {
            "dvc.yaml": "plots:\n  - roc.csv:\n      x: fpr\n      y: tpr\n"
            "  - conf.csv:\n      template: confusion\n      x: p\n      y: a\n"
            "  - loss.json:\n      y: [loss, acc]\n      template: smooth\n",
            "roc.csv": "fpr,tpr\n0,0\n0.5,0.8\n1,1\n",
            "conf.csv": "a,p\n0,0\n1,1\n1,0\n",
            "loss.json": '[{"loss": 1, "acc": 0.5}, {"loss": 0.4, "acc": 0.8}]',
        },
    )
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-q", "-m", "plots")
    gen(git_repo, {"roc.csv": "fpr,tpr\n0,0\n0.3,0.9\n1,1\n"})
    plot_set = collect_plots(git_repo, diff_revisions([]))
    page = write_html(plot_set, tmp_path / "out")
    port, connections = proxy

    dom, log = _chromium_dom(page, tmp_path / "profile", port)

    assert dom.count('data-rendered="true"') == 3, dom[-2000:]
    drawn = re.findall(r'<div id="plot-\d+"[^>]*>.*?<svg[^>]*class="marks"', dom, re.S)
    assert len(drawn) == 3
    assert re.search(r'<pre id="errors">\s*</pre>', dom)
    console_errors = [
        line for line in log.splitlines() if "CONSOLE" in line and "error" in line.lower()
    ]
    assert console_errors == []
    # NOTE: Chromium itself phones Google (clock sync, safe browsing) whatever the page does;
    # only requests for anything else can come from the page.
    from_page = [c for c in connections if not _BROWSER_OWN.search(c.split(b"\r\n")[0])]
    assert from_page == []
