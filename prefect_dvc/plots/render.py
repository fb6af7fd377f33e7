"""Write plots out: DVC's JSON, a self-contained HTML page, SVG and PNG images.

Provides:
    to_json(plot_set, image_dir=): ``dvc plots show --json``'s shape:
        ``{"data": {id: [{"type", "revisions", "content" | "url"}]}, "errors": [...]}``.
    to_svg(spec), to_png(spec): a Vega-Lite spec rendered offline.
    data_uri(content, mime): ``data:<mime>;base64,...``.
    html_page(plot_set, title=): one page, one chart per plot, no network needed.
    write_html(plot_set, out_dir): ``<out_dir>/index.html``; returns its path.

Offline by construction: Vega, Vega-Lite and vega-embed are inlined from
``vl-convert-python`` (which bundles them), images are ``data:`` URIs, and
charts render with ``actions: false`` so no link to an online editor appears.
Building the script bundle takes a few seconds, so it is cached per
vl-convert version under ``$XDG_CACHE_HOME/prefect-dvc``.
"""

from __future__ import annotations

import base64
import html
import json
import os
import re
from pathlib import Path
from typing import Any

import vl_convert

from prefect_dvc.plots.collect import Plot, PlotSet

__all__ = ["data_uri", "html_page", "to_json", "to_png", "to_svg", "write_html"]


def _latest_v5() -> str:
    """The newest Vega-Lite 5 that vl-convert bundles: our templates use the v5 schema."""
    fives = [v for v in vl_convert.get_vegalite_versions() if v.startswith("5.")]
    return max(fives, key=lambda v: tuple(int(p) for p in v.split(".")))


VEGA_LITE_VERSION = _latest_v5()


def data_uri(content: bytes, mime: str) -> str:
    """Embed ``content`` in a URI, so pages and artifacts need no other file."""
    return f"data:{mime};base64,{base64.b64encode(content).decode('ascii')}"


def _image_url(plot_id: str, image: Any, image_dir: Path | None) -> str:
    if image_dir is None:
        return data_uri(image.content, image.mime)
    name = re.sub(r"[\\/]", "_", f"{image.rev}_{image.filename}")
    image_dir.mkdir(parents=True, exist_ok=True)
    (image_dir / name).write_bytes(image.content)
    return str(image_dir / name)


def to_json(plot_set: PlotSet, image_dir: Path | None = None) -> dict[str, Any]:
    """The JSON DVC prints; images become files under ``image_dir`` or ``data:`` URIs."""
    data: dict[str, list[dict[str, Any]]] = {}
    for plot in plot_set.plots:
        if plot.kind == "vega":
            entry = {"type": "vega", "revisions": list(plot.revisions), "content": plot.spec}
            data.setdefault(plot.id, []).append(entry)
            continue
        for image in plot.images:
            data.setdefault(image.filename, []).append(
                {
                    "type": "image",
                    "revisions": [image.rev],
                    "url": _image_url(plot.id, image, image_dir),
                }
            )
    result: dict[str, Any] = {"data": data}
    if plot_set.warnings:
        result["errors"] = [{"msg": text} for text in plot_set.warnings]
    return result


def to_svg(spec: Any) -> str:
    """Render a Vega-Lite spec to SVG text without a browser or the network."""
    return str(vl_convert.vegalite_to_svg(vl_spec=spec, vl_version=VEGA_LITE_VERSION))


def to_png(spec: Any, scale: float = 1.0) -> bytes:
    """Render a Vega-Lite spec to PNG bytes without a browser or the network."""
    return bytes(
        vl_convert.vegalite_to_png(vl_spec=spec, vl_version=VEGA_LITE_VERSION, scale=scale)
    )


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "prefect-dvc"


def _script_bundle() -> str:
    """Vega + Vega-Lite + vega-embed as one script, built once per vl-convert version."""
    version = getattr(vl_convert, "__version__", "unknown")
    path = _cache_dir() / f"vega-bundle-{version}-{VEGA_LITE_VERSION}.js"
    if path.is_file():
        return path.read_text(encoding="utf-8")
    bundle = str(vl_convert.javascript_bundle(vl_version=VEGA_LITE_VERSION))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(bundle, encoding="utf-8")
        tmp.replace(path)
    except OSError:
        pass  # NOTE: a read-only cache only costs the next page a few seconds.
    return bundle


def _script_json(value: Any) -> str:
    # NOTE: "</" would close the <script> element early; JSON allows "<\/".
    return json.dumps(value).replace("</", "<\\/")


_STYLE = """
body { font-family: sans-serif; margin: 1.5em; color: #222; }
.plots { display: flex; flex-wrap: wrap; gap: 2em; }
.plot { border: 1px solid #ddd; border-radius: 6px; padding: 1em; }
.plot h2 { font-size: 1em; margin: 0 0 .5em 0; }
.image figure { display: inline-block; margin: .5em; text-align: center; }
.image img { max-width: 480px; }
#errors { color: #b00020; white-space: pre-wrap; }
"""

_RUN = """
const failures = document.getElementById("errors");
function report(text) { failures.textContent += text + "\\n"; console.error(text); }
window.addEventListener("error", (e) => report(String(e.message)));
for (const [id, spec] of Object.entries(PLOTS)) {
  vegaEmbed("#" + id, spec, {actions: false, renderer: "svg"})
    .then(() => document.getElementById(id).setAttribute("data-rendered", "true"))
    .catch((err) => report(id + ": " + err));
}
"""


def _plot_html(index: int, plot: Plot) -> tuple[str, str | None]:
    title = html.escape(plot.title)
    if plot.kind == "vega":
        div_id = f"plot-{index}"
        block = f'<div class="plot vega"><div id="{div_id}" data-plot="{html.escape(plot.id)}">'
        return block + "</div></div>", div_id
    figures = "".join(
        f'<figure><img alt="{html.escape(image.rev)}" '
        f'src="{data_uri(image.content, image.mime)}"/>'
        f"<figcaption>{html.escape(image.rev)}</figcaption></figure>"
        for image in plot.images
    )
    return f'<div class="plot image"><h2>{title}</h2>{figures}</div>', None


def html_page(plot_set: PlotSet, title: str = "DVC plots") -> str:
    """One HTML document holding every plot, its data and the scripts to draw them."""
    blocks, specs = [], {}
    for index, plot in enumerate(plot_set.plots):
        block, div_id = _plot_html(index, plot)
        blocks.append(block)
        if div_id is not None:
            specs[div_id] = plot.spec
    warnings = "".join(f"<li>{html.escape(w)}</li>" for w in plot_set.warnings)
    scripts = ""
    if specs:
        scripts = (
            f"<script>{_script_bundle()}</script>\n"
            f"<script>const PLOTS = {_script_json(specs)};{_RUN}</script>"
        )
    return (
        '<!DOCTYPE html>\n<html>\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        f"<h1>{html.escape(title)}</h1>\n"
        + (f'<ul class="warnings">{warnings}</ul>\n' if warnings else "")
        + '<pre id="errors"></pre>\n<div class="plots">\n'
        + "\n".join(blocks)
        + f"\n</div>\n{scripts}\n</body>\n</html>\n"
    )


def write_html(plot_set: PlotSet, out_dir: Path, title: str = "DVC plots") -> Path:
    """Write ``out_dir/index.html`` (creating the folder) and return its path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "index.html"
    path.write_text(html_page(plot_set, title), encoding="utf-8")
    return path
