"""What the repeat check (`repeats/scan` + `repeats/resolve`, see pipeline/steps/repeats.py) costs an
ingest-only run: the same crawl ingested with it and without it (the planner's `repeats_dir` switched off in
this process only), alternating, `--rounds` times each; prints the median wall times, their ratio and the
task time of each job.

    python bench/repeats.py /work/data/crawl --workers 2 --output bench/results/repeats.txt
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from rich.console import Console

import pipeline.jobs as jobs
from pipeline.inputs import resolve_inputs
from pipeline.prepared import prepare_run
from pipeline.runner import execute

RECIPE = '[executor]\nworkers = {workers}\n\n[[stage]]\nkind = "ingest"\n'


def timed_run(recipe: Path, crawl: Path, output: Path) -> float:
    shutil.rmtree(output, ignore_errors=True)
    started = time.perf_counter()
    result = execute(prepare_run(recipe, inputs=[str(crawl)], output=output), Console(file=io.StringIO()))
    assert result.complete
    return time.perf_counter() - started


def task_seconds(run_dir: Path, job: str) -> float:
    """datatrove's summed task time of a job's first step."""
    return json.loads((run_dir / job / "stats.json").read_text())[0]["time_stats"]["total"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("crawl", type=Path, help="folder of input files (WARC.gz for the figure in the README)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--output", type=Path, help="also write the result here")
    args = parser.parse_args()
    planned = jobs.repeats_dir
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        recipe = folder / "ingest.toml"
        recipe.write_text(RECIPE.format(workers=args.workers))
        walls: dict[str, list[float]] = {"with the check": [], "without": []}
        for _ in range(args.rounds):
            jobs.repeats_dir = planned
            walls["with the check"].append(timed_run(recipe, args.crawl, folder / "with"))
            jobs.repeats_dir = lambda prepared: None
            walls["without"].append(timed_run(recipe, args.crawl, folder / "without"))
        jobs.repeats_dir = planned
        summary = json.loads((folder / "with" / "stats" / "summary.json").read_text())
        documents = summary["stages"][0]["docs_in"]
        size = sum(file.size or 0 for file in resolve_inputs([str(args.crawl)]))
        with_check, without = (statistics.median(w) for w in walls.values())
        lines = [
            f"bench/repeats.py on {args.crawl} ({size / 1e6:,.1f} MB, {documents:,} document records), "
            f"{args.workers} workers, {time.strftime('%Y-%m-%d %H:%M')}",
            *(
                f"{name:>15}: median {statistics.median(w):6.1f} s of {[round(x, 1) for x in w]}"
                for name, w in walls.items()
            ),
            f"ratio: {with_check / without:.3f} (+{100 * (with_check / without - 1):.0f}% wall)",
            "task seconds: "
            + ", ".join(
                f"{job} {task_seconds(folder / 'with', job):.2f}" for job in ("repeats/scan", "repeats/resolve")
            )
            + f", ingest stage {summary['stages'][0]['seconds']:.1f}",
        ]
    print("\n".join(lines))
    if args.output:
        args.output.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
