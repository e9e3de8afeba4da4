"""Every shell block of README.md and docs/*.md runs as written, in the order a reader meets them, in a fresh copy
of the repository: README first, then the pages in the order of the README's documentation table.

A block that cannot run here says so in the line above it, `<!-- docs-test: skip REASON why -->`, with REASON one
of SKIP_REASONS; a Python block that sketches work on the reader's own data is `<!-- docs-test: imports-only -->`
(its imports must still resolve). Output checks that a page promises (the walkthrough's model learns, the chat
reply is the training answer word for word) are asserted on the outputs the blocks left behind.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
SHELLS = {"bash", "sh"}
SKIP_REASONS = {"setup", "gpu", "cluster", "network", "bench"}
MARKER = re.compile(r"<!-- docs-test: (skip (\w+) .+|imports-only) -->")


@dataclass(frozen=True)
class Block:
    page: str
    line: int  # of the opening fence, 1-based
    language: str
    code: str
    skip: str | None  # the reason word, when marked skip
    imports_only: bool

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"


def pages() -> list[str]:
    """README.md, then the docs pages in the order the README's documentation table lists them."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme.split("\n## Documentation\n", 1)[1].split("\n## ", 1)[0]
    listed = re.findall(r"^\| \[(docs/[\w-]+\.md)\]", table, re.MULTILINE)
    return ["README.md", *listed]


def blocks_of(page: str) -> list[Block]:
    lines = (ROOT / page).read_text(encoding="utf-8").split("\n")
    found, index = [], 0
    while index < len(lines):
        fence = re.fullmatch(r"```(\w*)", lines[index])
        if fence is None:
            index += 1
            continue
        end = lines.index("```", index + 1)
        marker = MARKER.fullmatch(lines[index - 1]) if index else None
        found.append(
            Block(
                page,
                index + 1,
                fence[1],
                "\n".join(lines[index + 1 : end]),
                marker[2] if marker and marker[2] else None,
                bool(marker and marker[1] == "imports-only"),
            )
        )
        index = end + 1
    return found


def runnable(block: Block) -> bool:
    return block.language in SHELLS | {"python"} and block.skip is None


def test_every_page_is_listed_and_every_marker_names_a_known_reason() -> None:
    """The static half, quick: a page missing from the table would never run, and a skip needs a reason."""
    listed = pages()
    on_disk = {f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md")}
    assert on_disk == set(listed[1:]), on_disk ^ set(listed[1:])
    for page in listed:
        text = (ROOT / page).read_text(encoding="utf-8")
        for marker in re.findall(r"<!-- docs-test:.*?-->", text):
            match = MARKER.fullmatch(marker)
            assert match, f"{page}: malformed marker {marker}"
            assert match[2] is None or match[2] in SKIP_REASONS, f"{page}: {marker}"
        for block in blocks_of(page):
            assert not (block.skip and block.imports_only)
            if block.skip:
                assert block.language in SHELLS | {"python"}, f"{block.where}: a skip on a {block.language} block"
    readme = blocks_of("README.md")
    assert next(b.skip for b in readme if b.language in SHELLS) == "setup"  # .ci/run runs that one, fresh


def fresh_copy(target: Path) -> Path:
    """The repository as a clone has it: tracked files and untracked ones git does not ignore."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True,
                            check=True).stdout.decode().split("\0")  # fmt: skip
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def run_block(block: Block, work: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("PYTHONPATH", None)
    if block.language in SHELLS:
        command = ["bash", "-euo", "pipefail", "-c", block.code]
    else:
        code = block.code
        if block.imports_only:
            tree = ast.parse(code)
            code = "\n".join(ast.unparse(n) for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom))
        command = [sys.executable, "-c", code]
    return subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, timeout=1800)


@dataclass
class DocsRun:
    work: Path
    outputs: dict[str, subprocess.CompletedProcess[str]]  # by Block.where
    blocks: list[Block]

    def output_of(self, page: str, needle: str) -> subprocess.CompletedProcess[str]:
        matches = [b for b in self.blocks if b.page == page and needle in b.code and runnable(b)]
        assert len(matches) == 1, (page, needle, [m.where for m in matches])
        return self.outputs[matches[0].where]


LONG = pytest.mark.timeout(3600)  # the first test that asks for docs_run pays for every block


@pytest.fixture(scope="module")
def docs_run(tmp_path_factory: pytest.TempPathFactory) -> DocsRun:
    work = fresh_copy(tmp_path_factory.mktemp("clone"))
    blocks = [block for page in pages() for block in blocks_of(page)]
    outputs = {}
    for block in filter(runnable, blocks):
        result = run_block(block, work)
        outputs[block.where] = result
        if result.returncode != 0:
            pytest.fail(f"{block.where} failed (exit {result.returncode}):\n{block.code}\n{result.stderr[-4000:]}")
    return DocsRun(work, outputs, blocks)


@pytest.mark.slow
@LONG
def test_every_block_runs_as_written(docs_run: DocsRun) -> None:
    ran = [b for b in docs_run.blocks if runnable(b)]
    assert len(docs_run.outputs) == len(ran) and ran


@pytest.mark.slow
@LONG
def test_the_walkthrough_model_learns_the_text(docs_run: DocsRun) -> None:
    """The README's claim: validation loss far below the unigram entropy of the training tokens."""
    walk = docs_run.work / "runs/walkthrough"
    manifest = json.loads((walk / "packed/manifest.json").read_text())
    train = np.concatenate([np.fromfile(walk / "packed" / s["bin"], dtype=manifest["dtype"])
                            for s in manifest["train"]["shards"]])  # fmt: skip
    p = np.bincount(train) / len(train)
    unigram = float(-(p[p > 0] * np.log(p[p > 0])).sum())
    last = [json.loads(line) for line in (walk / "train/metrics.jsonl").read_text().splitlines()][-1]
    assert last["step"] == 300 and last["val_loss"] < unigram - 3.0, (last, unigram)
    printed = docs_run.output_of("README.md", "gristmill train recipes/walkthrough/train.toml").stdout
    assert f"{unigram:.4f} nats per token, the unigram entropy" in printed


@pytest.mark.slow
@LONG
def test_the_chat_reply_is_the_training_answer_word_for_word(docs_run: DocsRun) -> None:
    question = "What does the ls command do?"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f'--message "{question}" --temperature 0' in readme
    conversations = (ROOT / "recipes/samples/chat/conversations.jsonl").read_text().splitlines()
    answers = []
    for record in map(json.loads, conversations):
        turns = record.get("messages") or [{"content": t["value"]} for t in record["conversations"]]
        answers += [turns[i + 1]["content"] for i, t in enumerate(turns[:-1]) if t["content"] == question]
    assert len(answers) == 1
    printed = docs_run.output_of("README.md", "gristmill chat --checkpoint runs/walkthrough/dpo").stdout
    assert printed.rstrip().endswith(answers[0]), printed[-500:]
    assert answers[0] in readme  # the README shows the very reply


@pytest.mark.slow
@LONG
def test_generate_serves_its_options_and_errors_on_the_walkthrough_model(
    docs_run: DocsRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from gristmill.cli import main

    trained = docs_run.work / "runs/walkthrough/train"
    sample = docs_run.output_of("README.md", "gristmill generate --checkpoint runs/walkthrough/train").stdout
    assert len(sample.split("The Debian installer", 1)[1].strip()) > 40
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("The package\n\nDie Installation\nLa instalación de\n")
    outputs = []
    for name in ("a.jsonl", "b.jsonl"):
        assert main(["generate", "--checkpoint", str(trained), "--prompt-file", str(prompts), "--batch-size", "2",
                     "--max-new-tokens", "20", "--top-p", "0.9", "--output", str(tmp_path / name)]) == 0  # fmt: skip
        outputs.append([json.loads(line) for line in (tmp_path / name).read_text().splitlines()])
    assert outputs[0] == outputs[1]  # seeded
    assert [row["prompt"] for row in outputs[0]] == ["The package", "Die Installation", "La instalación de"]
    assert all(row["completion"] for row in outputs[0])
    for args, message in (
        (["--checkpoint", str(tmp_path), "--prompt", "x"], "not a checkpoint"),
        (["--checkpoint", str(trained), "--prompt", "x", "--prompt-file", str(prompts)], "exactly one"),
        (["--checkpoint", str(trained), "--prompt", "x", "--tokenizer", str(tmp_path)], "is not a tokenizer"),
        (["--checkpoint", str(trained), "--prompt", "x", "--device", "tpu9"], "expected cpu, cuda or cuda:N"),
    ):
        capsys.readouterr()
        assert main(["generate", *args]) == 2
        error = capsys.readouterr().err.strip().splitlines()
        assert len(error) == 1 and message in error[0]
    long_prompt = "The Debian installer asks for the network. " * 30  # longer than the context of 128: it slides
    assert main(["generate", "--checkpoint", str(trained), "--prompt", long_prompt, "--max-new-tokens", "300"]) == 0
    said = " ".join(capsys.readouterr().out.split())
    assert said.count("generation goes on over the last 128") == 1
