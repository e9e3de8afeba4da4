"""The HTML report in a real browser (headless Chromium): it loads with no console error, every chart
rendered with visible bars, every rule shows its examples, and its numbers are the run's stats."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from browser import chromium_path, open_page
from conftest import MARKUP

from pipeline.report.command import report

CHECK = """(() => {
  const charts = [...document.querySelectorAll("figure.chart")].map(f => {
    const svg = f.querySelector("svg"), box = svg.getBoundingClientRect();
    const bars = [...svg.querySelectorAll("rect")].filter(r => r.getBoundingClientRect().width > 0
      && r.getBoundingClientRect().height > 0);
    return {name: f.dataset.chart, width: box.width, height: box.height, bars: bars.length};
  });
  const rules = [...document.querySelectorAll("details.rule-examples")].map(d => ({
    id: d.id, open: d.open,
    removed: d.querySelectorAll(".example.removed").length, kept: d.querySelectorAll(".example.kept").length}));
  const scripts = document.querySelectorAll("script").length;
  const external = [...document.querySelectorAll("[src],link[href]")].map(e => e.src || e.href)
    .filter(u => !u.startsWith("data:"));
  const cells = [...document.querySelector("table").rows].map(tr => [...tr.cells].map(c => c.textContent.trim()));
  return {charts, rules, scripts, external, cells, text: document.body.innerText};
})()"""
EXPECTED_CHARTS = [
    "funnel",
    "removals",
    "lengths",
    "languages",
    "clusters-exact_dedup",
    "clusters-minhash_dedup",
    "domains",
]


@pytest.fixture(scope="module")
def page(report_run: Path, strict_run: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict, Path]:
    if chromium_path() is None:
        pytest.skip("headless Chromium not found (Debian: apt-get install chromium); .ci/run installs it")
    folder = tmp_path_factory.mktemp("html")
    html, figures = folder / "report.html", folder / "report.json"
    assert report(str(report_run), str(html), str(figures), samples=2, compare=str(strict_run)) == 0
    screenshot = folder / "report.png"
    result = open_page(html, CHECK, screenshot=screenshot)
    assert result.console_errors == []
    return result.value, json.loads(figures.read_text()), screenshot


def test_every_chart_renders_with_bars(page: tuple[dict, dict, Path]) -> None:
    value, _, screenshot = page
    assert [c["name"] for c in value["charts"]] == EXPECTED_CHARTS
    for chart in value["charts"]:
        assert chart["width"] > 300 and chart["height"] > 20 and chart["bars"] >= 1, chart
    assert screenshot.stat().st_size > 10_000 and screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_page_is_self_contained(page: tuple[dict, dict, Path]) -> None:
    value, _, _ = page
    assert value["scripts"] == 0 and value["external"] == []


def test_every_rule_shows_removed_and_kept_examples(page: tuple[dict, dict, Path]) -> None:
    value, figures, _ = page
    rules = {r["id"]: r for r in value["rules"]}
    expected = {f"rule-{s['stage']}-{r['rule']}" for s in figures["funnel"] for r in s["rules"]}
    assert set(rules) == expected and len(expected) == 5
    for rule in rules.values():
        assert rule["open"] and rule["removed"] >= 1 and rule["kept"] >= 1, rule
    assert MARKUP in value["text"]  # shown as text, never run


def test_the_numbers_on_the_page_are_the_runs_stats(report_run: Path, page: tuple[dict, dict, Path]) -> None:
    value, _, _ = page
    summary = json.loads((report_run / "stats" / "summary.json").read_text())
    rows = {cells[0]: cells for cells in value["cells"] if cells}  # the funnel, the page's first table
    for stage in summary["stages"]:
        cells = rows[stage["stage"]]
        assert cells[1:4] == [f"{stage['docs_in']:,}", f"{stage['kept']:,}", f"{sum(stage['removed'].values()):,}"]
        for rule, count in stage["removed"].items():
            assert rows[rule][3] == f"{count:,}"
    assert "all " in value["text"] and "match" in value["text"]
    assert "Compared with another run" in value["text"] and "Kept only by A" in value["text"]
