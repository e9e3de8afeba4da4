"""The issue's check on a real run: `gristmill report RUN_DIR --html --json`, then the HTML opened in
headless Chromium: every rule of the funnel has its section with removed (and, past ingest, kept)
examples, every chart drew bars, no console error, and every number of the funnel table on the page
equals `stats/summary.json`. Prints the terminal report and the findings; saves a screenshot.

Usage (after a run, e.g. `gristmill run recipes/multilingual.toml --input CRAWL_DIR --output /tmp/r_ml2`):
  python bench/report_check.py /tmp/r_ml2 [--output bench/results/report-crawl.txt] [--screenshot FILE.png]
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

import common
from rich.console import Console

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # the root first: tests/pipeline must not shadow pipeline
from browser import open_page  # noqa: E402  (the test suite's Chromium driver)

from pipeline.report.command import report  # noqa: E402

PAGE = """(() => ({
  charts: [...document.querySelectorAll("figure.chart")].map(f => [f.dataset.chart,
    [...f.querySelectorAll("rect")].filter(r => r.getBoundingClientRect().width > 0).length]),
  rules: [...document.querySelectorAll("details.rule-examples")].map(d => [d.id,
    d.querySelectorAll(".example.removed").length, d.querySelectorAll(".example.kept").length]),
  funnel: [...document.querySelector("table").rows].map(tr => [...tr.cells].map(c => c.textContent.trim())),
}))()"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--output", type=Path)
    parser.add_argument("--screenshot", type=Path)
    args = parser.parse_args()
    out = common.Report()
    html, figures_path = args.run_dir / "report.html", args.run_dir / "report.json"
    screen = io.StringIO()
    code = report(str(args.run_dir), str(html), str(figures_path), console=Console(file=screen, width=100))
    for line in screen.getvalue().splitlines():
        out.say(line.rstrip())
    page = open_page(html, PAGE, screenshot=args.screenshot, width=1100)
    figures = json.loads(figures_path.read_text())
    sections = {name: (removed, kept) for name, removed, kept in page.value["rules"]}
    expected = [(s["stage"], f"rule-{s['stage']}-{r['rule']}") for s in figures["funnel"] for r in s["rules"]]
    missing = [name for _, name in expected if name not in sections]
    no_removed = [name for _, name in expected if sections.get(name, (0, 0))[0] == 0]
    no_kept = [name for stage, name in expected if stage != "ingest" and sections.get(name, (0, 0))[1] == 0]
    rows = {cells[0]: cells for cells in page.value["funnel"] if cells}
    differing = []
    for stage in json.loads((args.run_dir / "stats" / "summary.json").read_text())["stages"]:
        counts = [f"{stage['docs_in']:,}", f"{stage['kept']:,}", f"{sum(stage['removed'].values()):,}"]
        differing += [stage["stage"]] if rows[stage["stage"]][1:4] != counts else []
        differing += [rule for rule, n in stage["removed"].items() if rows[rule][3] != f"{n:,}"]
    out.say()
    out.say(f"exit status {code}; console errors in Chromium: {page.console_errors or 'none'}")
    out.say(f"charts drawn (bars): {', '.join(f'{name} {bars}' for name, bars in page.value['charts'])}")
    out.say(f"rules in the funnel: {len(expected)}; without a section: {missing or 'none'}")
    out.say(f"without removed examples: {no_removed or 'none'}; past ingest without kept examples: {no_kept or 'none'}")
    out.say(f"funnel cells on the page that differ from stats/summary.json: {differing or 'none'}")
    out.say(f"checks of stats against files: {sum(c['ok'] for c in figures['checks'])} of {len(figures['checks'])} ok")
    out.save(args.output)


if __name__ == "__main__":
    main()
