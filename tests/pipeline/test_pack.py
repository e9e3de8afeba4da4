"""`gristmill pack` on a real run: exact round trip, disjoint splits, manifest counts, resume, errors."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from crawl_factory import PARAGRAPHS
from rich.console import Console
from text_factory import article
from vocab_factory import rank_file

from gristmill.cli import main
from gristmill_base.folder_lock import hold_folder
from pipeline.pack import is_validation
from pipeline.pack_command import pack
from pipeline.prepared import prepare_run
from pipeline.runner import execute
from tokenizer import Tokenizer, train_bpe

EOS = "<|endoftext|>"


@pytest.fixture(scope="module")
def run_and_tokenizer(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("pack")
    rows = [{"id": f"en-{i}", "text": "\n\n".join(article(i, paragraphs=2 + i % 5))} for i in range(70)]
    rows += [{"id": f"{lang}-{i}", "text": f"{text} ({i}) 🙂"} for lang, text in PARAGRAPHS.items() for i in range(6)]
    (folder / "crawl.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    recipe = folder / "r.toml"
    recipe.write_text(
        f'[executor]\nworkers = 2\ntasks = 3\n\n[[stage]]\nkind = "ingest"\ninputs = ["{folder / "crawl.jsonl"}"]\n\n'
        '[[stage]]\nkind = "shard"\nshard_size = "8kB"\nrow_group_size = "2kB"\n'
    )
    assert execute(prepare_run(recipe, output=folder / "run"), Console(file=io.StringIO())).complete
    train_bpe([folder / "run"], 700, [EOS], workers=1).save(str(folder / "tok"))
    return folder / "run", folder / "tok"


def packed_documents(packed: Path, split: str, tokenizer: Tokenizer) -> list[str]:
    manifest = json.loads((packed / "manifest.json").read_text())
    texts = []
    for shard in manifest[split]["shards"]:
        tokens = np.fromfile(packed / shard["bin"], dtype=manifest["dtype"])
        start = 0
        for end in np.fromfile(packed / shard["idx"], dtype="<i8"):
            assert tokens[end - 1] == manifest["eos_id"]
            texts.append(tokenizer.decode(tokens[start : end - 1].tolist()))
            start = end
        assert start == len(tokens)
    return texts


def file_hashes(packed: Path) -> dict[str, str]:
    return {p.relative_to(packed).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(packed.glob("*/part-*"))}  # fmt: skip


def test_every_kept_document_comes_back_once_in_its_split(run_and_tokenizer: tuple[Path, Path], tmp_path: Path) -> None:
    run, tok = run_and_tokenizer
    manifest = pack(str(tok), [str(run)], str(tmp_path / "packed"), 0.2, 2, console=Console(file=io.StringIO()))
    tokenizer = Tokenizer.load(str(tok))
    kept = [r for p in sorted((run / "shards").glob("part-*.parquet")) for r in pq.read_table(p).to_pylist()]
    expected = {split: sorted(r["text"] for r in kept if is_validation(r["id"], 0.2) == (split == "val"))
                for split in ("train", "val")}  # fmt: skip
    for split in ("train", "val"):
        assert sorted(packed_documents(tmp_path / "packed", split, tokenizer)) == expected[split]
    assert expected["val"] and expected["train"] and len(expected["val"]) + len(expected["train"]) == len(kept)
    assert manifest["train"]["documents"] + manifest["val"]["documents"] == len(kept)
    for split in ("train", "val"):
        for shard in manifest[split]["shards"]:
            assert shard["tokens"] * 2 == (tmp_path / "packed" / shard["bin"]).stat().st_size
            assert shard["documents"] * 8 == (tmp_path / "packed" / shard["idx"]).stat().st_size
    assert manifest["dtype"] == "uint16" and manifest["eos_id"] == tokenizer.special_ids[EOS]
    assert manifest["tokenizer_sha256"] == hashlib.sha256((tok / "tokenizer.json").read_bytes()).hexdigest()
    assert len(manifest["source_shards"]) == len(list((run / "shards").glob("part-*.parquet"))) > 3


@pytest.mark.parametrize("eos", ["<|endoftext|>", "100257"])
def test_a_real_vocabulary_packs_its_real_ids_in_uint32(
    run_and_tokenizer: tuple[Path, Path], tmp_path: Path, eos: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """cl100k_base straight from tiktoken's rank file: ids above 65,535, the EOS by name or by id; what was
    assumed of a file without gristmill.json is said once."""
    run, _ = run_and_tokenizer
    ranks = rank_file("cl100k_base")
    manifest = pack(str(ranks), [str(run)], str(tmp_path / "p"), 0.0, 2, eos, console=Console(file=io.StringIO()))
    notes = [line for line in capsys.readouterr().err.splitlines() if line.startswith("note: ")]
    assert len(notes) == 1 and "as tiktoken's cl100k_base" in notes[0] and "<|endoftext|> = 100257" in notes[0]
    assert manifest["dtype"] == "uint32" and manifest["vocab_size"] == 100277 and manifest["eos_id"] == 100257
    assert manifest["tokenizer_sha256"] == hashlib.sha256(ranks.read_bytes()).hexdigest()
    kept = sorted(
        r["text"] for p in sorted((run / "shards").glob("part-*.parquet")) for r in pq.read_table(p).to_pylist()
    )
    tokenizer = Tokenizer.load(ranks)
    assert sorted(packed_documents(tmp_path / "p", "train", tokenizer)) == kept
    first = kept[0]
    tokens = np.concatenate([np.fromfile(tmp_path / "p" / s["bin"], "uint32") for s in manifest["train"]["shards"]])
    assert max(tokens) > 65_535 and set(tokenizer.encode(first)) <= set(tokens.tolist())


def test_a_rerun_after_a_lost_task_and_other_workers_give_identical_files(
    run_and_tokenizer: tuple[Path, Path], tmp_path: Path
) -> None:
    run, tok = run_and_tokenizer
    quiet = Console(file=io.StringIO())
    pack(str(tok), [str(run)], str(tmp_path / "a"), 0.1, 2, console=quiet)
    first = file_hashes(tmp_path / "a")
    (tmp_path / "a" / ".pack" / "completions" / "00001").unlink()  # as if task 1 had died ...
    (tmp_path / "a" / "train" / "part-00001.bin").write_bytes(b"half-written")  # ... after writing part of it
    pack(str(tok), [str(run)], str(tmp_path / "a"), 0.1, 2, console=quiet)
    assert file_hashes(tmp_path / "a") == first
    pack(str(tok), [str(run)], str(tmp_path / "b"), 0.1, 1, console=quiet)
    assert file_hashes(tmp_path / "b") == first


def test_inspect_and_bad_requests(
    run_and_tokenizer: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run, tok = run_and_tokenizer
    assert main(["pack", "--tokenizer", str(tok), "--input", str(run), "--output", str(tmp_path / "p")]) == 0
    assert main(["pack", "--inspect", str(tmp_path / "p")]) == 0
    screen = capsys.readouterr().out
    assert "train:" in screen and "document of" in screen
    cases = [
        (
            ["--tokenizer", str(tok), "--input", str(run), "--output", str(tmp_path / "q"), "--eos", "<eos>"],
            "not a special token",
        ),
        (
            ["--tokenizer", str(tok), "--input", str(run), "--output", str(tmp_path / "q"), "--eos", "70000"],
            "id 70000 is not in this tokenizer",
        ),
        (["--tokenizer", str(tok), "--input", str(tmp_path), "--output", str(tmp_path / "q")], "no Parquet shards"),
        (["--tokenizer", str(tmp_path), "--input", str(run), "--output", str(tmp_path / "q")], "--tokenizer"),
        (["--inspect", str(tmp_path)], "no manifest.json"),
        (["--input", str(run)], "required"),
    ]
    for args, message in cases:
        assert main(["pack", *args]) == 2
        assert message in capsys.readouterr().err
    (tmp_path / "busy").mkdir()
    with hold_folder(tmp_path / "busy", "gristmill pack", "choose another --output"):  # as another pack would
        assert main(["pack", "--tokenizer", str(tok), "--input", str(run), "--output", str(tmp_path / "busy")]) == 2
    assert "is in use by another gristmill pack" in capsys.readouterr().err


@pytest.mark.slow
def test_kill_9_mid_run_then_rerun_gives_identical_files(run_and_tokenizer: tuple[Path, Path], tmp_path: Path) -> None:
    """The main process alone is killed (as the OOM killer does): its workers die with it, and the same
    command run right away finds the folder free and finishes the job."""
    run, tok = run_and_tokenizer
    pack(str(tok), [str(run)], str(tmp_path / "clean"), 0.1, 1, console=Console(file=io.StringIO()))
    command = [sys.executable, "-m", "gristmill", "pack", "--tokenizer", str(tok), "--input", str(run),
               "--output", str(tmp_path / "killed"), "--val-fraction", "0.1", "--workers", "2"]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    completions = tmp_path / "killed" / ".pack" / "completions"
    deadline = time.monotonic() + 300  # against a hang only
    while not (completions.is_dir() and any(completions.iterdir())) and time.monotonic() < deadline:
        time.sleep(0.01)
    process.kill()
    process.wait()
    done = len(list(completions.iterdir()))
    assert 0 < done < len(json.loads((tmp_path / "clean" / "manifest.json").read_text())["source_shards"])
    assert subprocess.run(command, capture_output=True).returncode == 0
    assert file_hashes(tmp_path / "killed") == file_hashes(tmp_path / "clean")
