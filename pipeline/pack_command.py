"""`gristmill pack`: run the pack job on a datatrove executor, write the manifest, print a summary; and
`gristmill pack --inspect PACKED`: the counts and a few documents decoded."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from rich.console import Console

from gristmill_base.errors import UserError
from gristmill_base.folder_lock import hold_folder
from pipeline.executors import build_executor
from pipeline.pack import (
    JOB,
    PackStep,
    check_tokenizer,
    input_shards,
    read_manifest,
    write_pack_manifest,
)
from pipeline.progress import ProgressWatcher
from pipeline.recipe import ExecutorSection
from pipeline.runner import stderr_to
from tokenizer import Tokenizer


def pack(
    tokenizer_dir: str,
    inputs: list[str],
    output: str,
    val_fraction: float = 0.0,
    workers: int | None = None,
    eos: str = "<|endoftext|>",
    console: Console | None = None,
) -> dict:
    console = console or Console()
    if not 0 <= val_fraction < 1:
        raise UserError(f"--val-fraction: expected a number in [0, 1), got {val_fraction}")
    tokenizer_path, packed = Path(tokenizer_dir).resolve(), Path(output).resolve()
    tokenizer = check_tokenizer(tokenizer_path, eos)
    files = [path.resolve() for path in input_shards(inputs)]
    section = ExecutorSection(kind="local", workers=workers) if workers else ExecutorSection(kind="local")
    step = PackStep(files, tokenizer_path, packed, eos, val_fraction)
    started = time.perf_counter()
    total = sum(path.stat().st_size for path in files)
    if packed.exists() and not packed.is_dir():
        raise UserError(f"--output {packed}: exists and is not a folder")
    packed.mkdir(parents=True, exist_ok=True)
    with hold_folder(packed, "gristmill pack", "choose another --output"):
        with ProgressWatcher(packed, JOB, total, len(files), console), stderr_to(packed / JOB / "pack.log"):
            build_executor(section, [step], len(files), packed / JOB).run()
        done = len(list((packed / JOB / "completions").glob("*")))
        if done < len(files):
            message = f"{len(files) - done} of {len(files)} pack tasks failed; see {packed / JOB}; rerun to resume"
            raise UserError(message)
        manifest = write_pack_manifest(packed, tokenizer_path, tokenizer, eos, files, val_fraction)
    seconds = time.perf_counter() - started
    tokens = manifest["train"]["tokens"] + manifest["val"]["tokens"]
    console.print(
        f"packed {manifest['train']['documents'] + manifest['val']['documents']:,} documents into {tokens:,} tokens "
        f"({manifest['dtype']}; train {manifest['train']['tokens']:,}, val {manifest['val']['tokens']:,}) at {packed} "
        f"in {seconds:,.1f} s = {tokens / max(seconds, 1e-9):,.0f} tokens/s"
    )
    return manifest


def inspect(packed_dir: str, documents: int = 3, console: Console | None = None) -> None:
    console = console or Console()
    packed = Path(packed_dir)
    manifest = read_manifest(packed)
    console.print(
        f"{packed}: vocab {manifest['vocab_size']:,} ({manifest['dtype']}), "
        f"eos {manifest['eos']!r} = {manifest['eos_id']}, tokenizer sha256 {manifest['tokenizer_sha256'][:16]}…"
    )
    for split in ("train", "val"):
        info = manifest[split]
        console.print(
            f"{split}: {info['documents']:,} documents, {info['tokens']:,} tokens in {len(info['shards'])} parts"
        )
    tokenizer = Tokenizer.load(manifest["tokenizer"])
    tokens = np.fromfile(packed / manifest["train"]["shards"][0]["bin"], dtype=manifest["dtype"])
    ends = np.fromfile(packed / manifest["train"]["shards"][0]["idx"], dtype="<i8")
    start = 0
    for end in ends[:documents]:
        text = tokenizer.decode(tokens[start:end].tolist())
        console.print(f"[bold]document of {end - start:,} tokens:[/] {text[:300]!r}{'…' if len(text) > 300 else ''}")
        start = end
