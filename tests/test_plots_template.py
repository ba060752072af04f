"""`dvc plots show` / `dvc plots diff` pages render with no network: the project's plots.html_template inlines vega."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from conftest import ROOT

TEMPLATE = ROOT / "plots" / "offline_template.html"
DVC_YAML = """plots:
  - learning curve:
      template: linear
      x: step
      y:
        loss.csv: loss
  - confusion:
      template: confusion
      x: actual
      y:
        confusion.json: predicted
"""


class Page(HTMLParser):
    """What a browser would fetch: attributes that load resources, and the scripts with and without src."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.references: list[str] = []
        self.inline_scripts = 0
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.references += [v for k, v in attrs.items() if k in ("src", "href", "srcset", "data") and v]
        self.inline_scripts += tag == "script" and "src" not in attrs


def dvc(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    return subprocess.run(["dvc", *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=120)


@pytest.fixture(scope="module")
def pages(tmp_path_factory) -> dict[str, Path]:
    """A git + DVC repo with the project's .dvc/config and plots/, two plots, one commit; the show and diff pages."""
    repo = tmp_path_factory.mktemp("plots-repo")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    assert dvc(repo, "init", "-q").returncode == 0
    shutil.copy(ROOT / ".dvc" / "config", repo / ".dvc" / "config")
    shutil.copytree(ROOT / "plots", repo / "plots")
    (repo / "dvc.yaml").write_text(DVC_YAML)
    (repo / "loss.csv").write_text("step,loss\n0,1.0\n1,0.6\n2,0.4\n")
    pairs = [(0, 0), (0, 1), (1, 1), (1, 1), (0, 0)]
    (repo / "confusion.json").write_text(json.dumps([{"actual": a, "predicted": p} for a, p in pairs]))
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-qm", "plots"], cwd=repo, check=True)
    (repo / "loss.csv").write_text("step,loss\n0,0.9\n1,0.5\n2,0.3\n")
    for command in ("show", "diff"):
        args = ["plots", command, *(["HEAD"] if command == "diff" else []), "-o", command]
        result = dvc(repo, *args)
        assert result.returncode == 0, result.stderr[-2000:]
    return {command: repo / command / "index.html" for command in ("show", "diff")}


def test_project_config_points_at_the_offline_template():
    configured = dvc(ROOT, "config", "--project", "plots.html_template").stdout.strip()
    assert (ROOT / ".dvc" / configured).resolve() == TEMPLATE.resolve()  # DVC reads it relative to .dvc/


@pytest.mark.parametrize("command", ["show", "diff"])
def test_dvc_plots_page_references_no_network_url(pages, command):
    text = pages[command].read_text(encoding="utf-8")
    page = Page(text)
    assert page.references == []  # no script src, stylesheet, image or frame: nothing is fetched
    assert page.inline_scripts >= 3 + 2  # vega, vega-lite, vega-embed, then one per plot
    assert "cdn.jsdelivr.net" not in text and "<link" not in text
    assert text.count("vegaEmbed('#") == 2 and "vega-embed 6.18.2" in text


def test_template_renders_through_dvc_render_where_the_default_uses_a_cdn(tmp_path):
    from dvc_render import VegaRenderer, render_html

    def references(template: str | None) -> list[str]:
        renderer = VegaRenderer([{"step": 0, "loss": 1.0}, {"step": 1, "loss": 0.5}], "loss", x="step", y="loss")
        page = render_html([renderer], tmp_path / "index.html", html_template=template)
        return Page(Path(page).read_text()).references

    assert any(r.startswith("https://") for r in references(None))  # DVC's default page
    assert references(str(TEMPLATE)) == []


def test_licences_are_kept():
    text = TEMPLATE.read_text(encoding="utf-8")
    licences = (ROOT / "plots" / "LICENSES").read_text(encoding="utf-8")
    for name in ("vega 5.20.2", "vega-lite 5.2.0", "vega-embed 6.18.2"):
        assert name in text and name in licences
    assert text.count("Redistribution and use in source and binary forms") == 3
    assert "d3-array" in licences


@pytest.mark.skipif(shutil.which("chromium") is None, reason="no chromium here (Debian: apt-get install chromium)")
def test_page_draws_its_plots_in_a_browser_without_network(pages):
    dom = subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--host-resolver-rules=MAP * ~NOTFOUND",
         "--virtual-time-budget=10000", "--dump-dom", pages["show"].as_uri()],
        capture_output=True, text=True, timeout=120,
    ).stdout
    assert dom.count('class="marks"') == 2  # vega drew both plots
