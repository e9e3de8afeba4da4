"""`gristmill run` with exact, line and MinHash dedup on small real documents: exact copies, near copies
(one paragraph changed) and unrelated documents that share boilerplate lines."""

from __future__ import annotations

import io
import json
import os
import random
import signal
import string
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
from rich.console import Console
from text_factory import article, write_jsonl

from pipeline.prepared import prepare_run
from pipeline.runner import execute

BOILERPLATE = [
    "Mill News: the weekly paper of the valley",
    "Subscribe to our letter for updates from the valley every Friday morning",
    "Copyright 2026 Mill News. All rights reserved.",
]


def page(seed: int, changed_paragraph: int | None = None) -> str:
    paragraphs = article(seed)
    if changed_paragraph is not None:
        paragraphs[changed_paragraph] = article(1000 + seed)[0]
    return "\n".join([BOILERPLATE[0], *paragraphs, *BOILERPLATE[1:]])


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 unrelated pages sharing three boilerplate lines, two exact copies, two near copies."""
    folder = tmp_path_factory.mktemp("corpus")
    write_jsonl(folder / "a.jsonl", [(f"page-{i}", page(i)) for i in range(6)])
    write_jsonl(folder / "b.jsonl", [(f"page-{i}", page(i)) for i in range(6, 12)])
    shouted = page(3).upper().replace(" ", "  ")  # the same text after normalisation
    write_jsonl(
        folder / "c.jsonl",
        [
            ("copy-of-1", page(1)),
            ("near-of-2", page(2, changed_paragraph=7)),
            ("shouted-copy-of-3", shouted),
            ("near-of-8", page(8, changed_paragraph=15)),
        ],
    )
    return folder


def recipe(tmp_path: Path, stages: str, workers: int = 2) -> Path:
    path = tmp_path / "recipe.toml"
    path.write_text(f'[executor]\nworkers = {workers}\n\n[[stage]]\nkind = "ingest"\n\n{stages}')
    return path


ALL_DEDUP = """
[[stage]]
kind = "exact_dedup"

[[stage]]
kind = "minhash_dedup"

[[stage]]
kind = "line_dedup"
max_documents = 10
"""


def run(recipe_path: Path, corpus: Path, output: Path, **options) -> Path:
    prepared = prepare_run(recipe_path, inputs=[str(corpus)], output=output, **options)
    result = execute(prepared, Console(file=io.StringIO(), width=200))
    assert result.complete
    return output


def kept_ids(run_dir: Path) -> list[str]:
    return sorted(pl.read_parquet(run_dir / "shards" / "*.parquet")["id"].to_list())


def kept_texts(run_dir: Path) -> list[str]:
    return sorted(pl.read_parquet(run_dir / "shards" / "*.parquet")["text"].to_list())


def removed(run_dir: Path, stage: str) -> pl.DataFrame:
    return pl.read_parquet(run_dir / "removed" / stage / "*.parquet").sort("id")


@pytest.fixture(scope="module")
def full_run(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("full")
    return run(recipe(tmp, ALL_DEDUP), corpus, tmp / "run")


def test_exact_copies_are_removed_and_point_at_the_first_copy(full_run: Path):
    gone = removed(full_run, "exact_dedup")
    assert gone["id"].to_list() == ["copy-of-1", "shouted-copy-of-3"]
    assert gone["exact_dedup_kept_id"].to_list() == ["page-1", "page-3"]
    assert gone["removed_by"].unique().to_list() == ["exact_duplicate"]
    assert gone["removed_detail"][0] == "duplicate of page-1 (cluster 1, 2 documents)"


def test_near_copies_are_removed_with_their_cluster(full_run: Path):
    gone = removed(full_run, "minhash_dedup")
    assert gone["id"].to_list() == ["near-of-2", "near-of-8"]
    assert gone["minhash_dedup_kept_id"].to_list() == ["page-2", "page-8"]
    kept = pl.read_parquet(full_run / "shards" / "*.parquet")
    clusters = dict(zip(kept["id"], kept["minhash_dedup_cluster"], strict=True))
    assert gone["minhash_dedup_cluster"].to_list() == [clusters["page-2"], clusters["page-8"]]
    sizes = dict(zip(kept["id"], kept["minhash_dedup_cluster_size"], strict=True))
    assert sizes["page-2"] == 2 and sizes["page-5"] == 1
    assert clusters["page-5"] is None


def test_unrelated_pages_sharing_boilerplate_are_kept_and_lose_the_boilerplate(full_run: Path):
    kept = pl.read_parquet(full_run / "shards" / "*.parquet").sort("id")
    assert kept["id"].to_list() == [f"page-{i}" for i in sorted(range(12), key=str)]
    for text, cut in zip(kept["text"], kept["line_dedup_lines_removed"], strict=True):
        assert cut == 3
        assert not any(line in text for line in BOILERPLATE)
        assert len(text.split("\n")) == 20


def test_every_document_is_kept_or_removed_at_each_stage(full_run: Path):
    summary = json.loads((full_run / "stats" / "summary.json").read_text())
    stages = {s["stage"]: s for s in summary["stages"]}
    for name in ("exact_dedup", "line_dedup", "minhash_dedup"):
        stage = stages[name]
        assert stage["docs_in"] == stage["kept"] + sum(stage["removed"].values())
    assert stages["exact_dedup"]["docs_in"] == 16
    assert stages["minhash_dedup"]["docs_in"] == 14
    assert stages["line_dedup"]["docs_in"] == 12
    assert stages["shard"]["kept"] == 12
    clusters = json.loads((full_run / "stats" / "minhash_dedup" / "clusters.json").read_text())
    assert clusters["cluster_sizes"] == {"2": 2}
    assert (clusters["documents"], clusters["removed"]) == (14, 2)


def test_line_dedup_keeps_lines_found_in_few_documents(corpus: Path, tmp_path: Path):
    stages = '[[stage]]\nkind = "line_dedup"\nmax_documents = 16\n'
    run_dir = run(recipe(tmp_path, stages), corpus, tmp_path / "run")
    kept = pl.read_parquet(run_dir / "shards" / "*.parquet")
    assert kept["line_dedup_lines_removed"].sum() == 0
    assert len(kept) == 16


def test_a_page_made_only_of_boilerplate_is_removed(tmp_path: Path):
    corpus = tmp_path / "corpus"
    write_jsonl(corpus / "a.jsonl", [(f"p{i}", page(i)) for i in range(4)] + [("only", "\n".join(BOILERPLATE))])
    run_dir = run(recipe(tmp_path, '[[stage]]\nkind = "line_dedup"\nmax_documents = 3\n'), corpus, tmp_path / "r")
    gone = removed(run_dir, "line_dedup")
    assert gone["id"].to_list() == ["only"]
    assert gone["removed_by"].to_list() == ["all_lines_repeated"]
    assert gone["text"][0] == "\n".join(BOILERPLATE)  # removed documents keep their text


@pytest.mark.parametrize("workers", [1, 4])
def test_the_kept_set_does_not_depend_on_workers_tasks_or_bucket_split(
    corpus: Path, full_run: Path, tmp_path: Path, workers: int
):
    stages = ALL_DEDUP.replace('kind = "minhash_dedup"', 'kind = "minhash_dedup"\nbucket_tasks_per_band = 3')
    stages = stages.replace('kind = "exact_dedup"', 'kind = "exact_dedup"\nbucket_tasks = 2')
    path = recipe(tmp_path, stages, workers=workers)
    path.write_text(path.read_text().replace("[executor]\n", "[executor]\ntasks = 2\n"))
    run_dir = run(path, corpus, tmp_path / "run")
    assert kept_ids(run_dir) == kept_ids(full_run)
    for stage in ("exact_dedup", "minhash_dedup"):
        assert removed(run_dir, stage).drop("source").equals(removed(full_run, stage).drop("source"))


def test_char_shingles_find_the_same_near_copies(corpus: Path, tmp_path: Path):
    stages = '[[stage]]\nkind = "minhash_dedup"\nshingle = "char"\nngram = 7\n'
    run_dir = run(recipe(tmp_path, stages), corpus, tmp_path / "run")
    assert sorted(removed(run_dir, "minhash_dedup")["id"]) == [
        "copy-of-1",
        "near-of-2",
        "near-of-8",
        "shouted-copy-of-3",
    ]


PHASES = [
    "ingest",
    *(f"exact_dedup/{job}" for job in ("keys", "buckets", "cluster", "apply")),
    *(f"minhash_dedup/{job}" for job in ("keys", "buckets", "cluster", "apply")),
    *(f"line_dedup/{job}" for job in ("keys", "lines", "apply")),
]


@pytest.mark.slow
@pytest.mark.parametrize("phase", PHASES)
def test_a_run_killed_during_any_phase_finishes_with_the_same_result(
    corpus: Path, full_run: Path, tmp_path: Path, phase: str
):
    path = recipe(tmp_path, ALL_DEDUP, workers=1)
    run_dir = tmp_path / "run"
    command = [sys.executable, "-m", "gristmill", "run", str(path), "--input", str(corpus), "--output", str(run_dir)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    while not (run_dir / phase).exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert not (run_dir / "shards" / "manifest.json").exists(), "the run ended before it could be killed"
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert kept_ids(run_dir) == kept_ids(full_run)
    for stage in ("exact_dedup", "minhash_dedup"):
        assert removed(run_dir, stage).drop("source").equals(removed(full_run, stage).drop("source"))
    assert kept_texts(run_dir) == kept_texts(full_run)  # line dedup cut the same lines
    assert json.loads((run_dir / "stats" / "summary.json").read_text())["stages"][-1]["kept"] == 12


def test_a_run_with_nothing_left_to_deduplicate_finishes_cleanly(tmp_path: Path):
    corpus = tmp_path / "corpus"
    write_jsonl(corpus / "a.jsonl", [("blank", "   "), ("empty", "")])  # ingest removes both (empty_text)
    run_dir = run(recipe(tmp_path, ALL_DEDUP), corpus, tmp_path / "run")
    assert json.loads((run_dir / "shards" / "manifest.json").read_text())["documents"] == 0
    assert json.loads((run_dir / "stats" / "minhash_dedup" / "clusters.json").read_text())["documents"] == 0


def test_texts_without_shingles_are_never_near_duplicates(tmp_path: Path):
    corpus = tmp_path / "corpus"
    write_jsonl(corpus / "a.jsonl", [("p1", "!!! ???"), ("p2", "... ---"), ("p3", page(1)), ("p4", page(2))])
    run_dir = run(recipe(tmp_path, '[[stage]]\nkind = "minhash_dedup"\n'), corpus, tmp_path / "run")
    assert kept_ids(run_dir) == ["p1", "p2", "p3", "p4"]


def test_exact_dedup_never_pairs_texts_with_nothing_left_after_normalisation(tmp_path: Path):
    corpus = tmp_path / "corpus"
    write_jsonl(
        corpus / "a.jsonl", [("p1", "!!!"), ("p2", "???"), ("p3", "\U0001f600"), ("p4", page(1)), ("p5", page(1))]
    )
    stage = '[[stage]]\nkind = "exact_dedup"\nnormalize = "aggressive"\n'
    run_dir = run(recipe(tmp_path, stage), corpus, tmp_path / "run")
    assert kept_ids(run_dir) == ["p1", "p2", "p3", "p4"]


def numbered_page(seed: int) -> str:
    """Boilerplate around lines that share their shape with every other page's but not their text: a
    numbered step, two table rows, a dated line and a score."""
    return "\n".join(
        [
            BOILERPLATE[0],
            f"Step {seed + 1}: add {seed + 2} cups of flour to the mill",
            f"| {2000 + seed} | {seed * 1.5:.1f} | {seed % 7} |",
            f"| {2100 + seed} | {seed * 2.5:.1f} | {seed % 5} |",
            f"Updated on {seed + 1} March 2026 at 10:{seed:02d}",
            f"Final score: Millers {seed} - {seed + 3} Valley",
            *BOILERPLATE[1:],
        ]
    )


@pytest.fixture(scope="module")
def numbered_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("numbered")
    write_jsonl(folder / "a.jsonl", [(f"n{seed:02d}", numbered_page(seed)) for seed in range(12)])
    return folder


def test_line_dedup_keeps_every_distinct_numeric_line_and_cuts_the_boilerplate(numbered_corpus: Path, tmp_path):
    stage = '[[stage]]\nkind = "line_dedup"\nmax_documents = 3\n'
    run_dir = run(recipe(tmp_path, stage), numbered_corpus, tmp_path / "run")
    kept = pl.read_parquet(run_dir / "shards" / "*.parquet").sort("id")
    assert len(kept) == 12
    for seed, (text, cut) in enumerate(zip(kept["text"], kept["line_dedup_lines_removed"], strict=True)):
        assert cut == len(BOILERPLATE)
        assert text.split("\n") == numbered_page(seed).split("\n")[1:-2]


def test_aggressive_line_dedup_cuts_lines_that_share_only_their_shape(numbered_corpus: Path, tmp_path: Path):
    """What the option trades away, shown: every page loses its distinct lines and is removed."""
    stage = '[[stage]]\nkind = "line_dedup"\nmax_documents = 3\nnormalize = "aggressive"\n'
    run_dir = run(recipe(tmp_path, stage), numbered_corpus, tmp_path / "run")
    assert removed(run_dir, "line_dedup")["removed_by"].to_list() == ["all_lines_repeated"] * 12


def test_exact_dedup_keeps_texts_that_differ_only_in_their_digits(tmp_path: Path):
    corpus = tmp_path / "corpus"
    prices = "Mill price list\nFlour, 1 kg: {}\nOats, 1 kg: {}\nRye, 1 kg: {}"
    rows = [("march", prices.format("1.20", "2.10", "1.75")), ("april", prices.format("1.25", "2.10", "1.80"))]
    rows.append(("april-again", "  " + rows[1][1].upper()))  # a copy in another case and spacing
    write_jsonl(corpus / "a.jsonl", rows)
    run_dir = run(recipe(tmp_path, '[[stage]]\nkind = "exact_dedup"\n'), corpus, tmp_path / "run")
    assert kept_ids(run_dir) == ["april", "march"]
    assert removed(run_dir, "exact_dedup")["exact_dedup_kept_id"].to_list() == ["april"]
    aggressive = '[[stage]]\nkind = "exact_dedup"\nnormalize = "aggressive"\n'
    assert kept_ids(run(recipe(tmp_path, aggressive), corpus, tmp_path / "aggressive")) == ["march"]


def near_triple() -> dict[str, str]:
    """B and C are near copies (estimated J 0.87); A is close to both but under 0.8 (0.75, 0.78), and
    shares with them the only band where B and C meet. Found by a seeded search (trial 82)."""
    rng = random.Random(1)
    vocab = ["".join(random.Random(i).choices(string.ascii_lowercase, k=6)) for i in range(5000)]

    def edited(words: list[str], count: int) -> str:
        words = list(words)
        for position in rng.sample(range(len(words)), count):
            words[position] = rng.choice(vocab)
        return " ".join(words)

    for _ in range(83):
        base = [rng.choice(vocab) for _ in range(300)]
        triple = {"B": edited(base, 2), "C": edited(base, 2), "A": edited(base, 4)}
    return triple


@pytest.mark.parametrize("order", ["ABC", "BCA", "CAB"])
def test_near_copies_meet_even_when_a_weaker_match_leads_their_bucket(tmp_path: Path, order: str):
    texts = near_triple()
    write_jsonl(tmp_path / "corpus" / "a.jsonl", [(name, texts[name]) for name in order])
    run_dir = run(recipe(tmp_path, '[[stage]]\nkind = "minhash_dedup"\n'), tmp_path / "corpus", tmp_path / "run")
    gone = removed(run_dir, "minhash_dedup")
    later_of_the_pair = "C" if order.index("B") < order.index("C") else "B"
    assert gone["id"].to_list() == [later_of_the_pair]
    assert "A" in kept_ids(run_dir)


def test_a_complete_run_drops_what_its_jobs_passed_on_unless_asked_to_keep_it(corpus: Path, tmp_path: Path):
    stages = '[[stage]]\nkind = "minhash_dedup"\n\n[[stage]]\nkind = "line_dedup"\n'
    passed_on = ["ingest/docs", "minhash_dedup/work", "minhash_dedup/apply/docs", "line_dedup/work"]
    run_dir = run(recipe(tmp_path, stages), corpus, tmp_path / "run")
    assert not any((run_dir / path).exists() for path in passed_on)
    before = kept_texts(run_dir)
    path = recipe(tmp_path, stages)
    path.write_text("[run]\nkeep_intermediate = true\n\n" + path.read_text())
    assert kept_texts(run(path, corpus, run_dir)) == before  # a complete run reruns as complete
    kept_run = run(path, corpus, tmp_path / "kept")
    assert all((kept_run / path).is_dir() for path in passed_on)
    assert kept_texts(kept_run) == before
