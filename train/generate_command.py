"""`gristmill generate`: text from a checkpoint. One prompt streams its tokens to the terminal as they come;
a prompt file (one prompt per line) runs in left-padded batches and can be saved as JSONL. Everything is checked
before any text is printed. Generation may go past the model's context (see `model.generate`): one dim note
says so the first time the window slides.

The tokenizer is the one the checkpoint was trained with (its folder is recorded in the checkpoint, and its
sha256 is checked), so ids mean what they meant in training.
"""

from __future__ import annotations

import codecs
import json
import time
from pathlib import Path

import torch
from rich.console import Console

from gristmill_base.atomic import write_text_atomic
from gristmill_base.errors import UserError
from model.generate import Sampling, generate
from model.gpt import GPT
from tokenizer import Tokenizer
from tokenizer.files import is_tokenizer, same_ids
from train.checkpoint import read_model

EOS = "<|endoftext|>"


def tokenizer_folder(config: dict, override: str | None) -> Path:
    """The tokenizer folder of a checkpoint (or `override`), checked against the checkpoint's sha256."""
    folder = override or config.get("tokenizer")
    if not folder:
        raise UserError("--tokenizer: the checkpoint does not name its tokenizer folder; pass --tokenizer DIR")
    if not is_tokenizer(folder):
        where = "--tokenizer" if override else "the checkpoint's tokenizer (pass --tokenizer PATH if it moved)"
        raise UserError(f"{where}: {folder} is not a tokenizer folder or file")
    if "tokenizer_sha256" in config and not same_ids(folder, config["tokenizer_sha256"]):
        raise UserError(f"--tokenizer: {folder} is not the tokenizer this checkpoint was trained with (sha256 differs)")
    return Path(folder)


def checkpoint_eos(config: dict, tokenizer: Tokenizer) -> int | None:
    """The end-of-text id the checkpoint's data was packed with (older checkpoints: the tokenizer's EOS)."""
    return config.get("eos_id", tokenizer.special_ids.get(EOS))


def device_for(name: str | None) -> torch.device:
    """The device asked for (default: CUDA when present), checked to exist here."""
    try:
        device = torch.device(name or ("cuda" if torch.cuda.is_available() else "cpu"))
    except RuntimeError:
        raise UserError(f"--device {name}: expected cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"--device {name}: no CUDA device here")
    if device.type not in ("cpu", "cuda"):
        raise UserError(f"--device {name}: expected cpu, cuda or cuda:N")
    return device


def model_and_tokenizer(checkpoint: str, tokenizer_dir: str | None,
                        device: str | None) -> tuple[GPT, dict, Path, Tokenizer, torch.device]:  # fmt: skip
    """A checkpoint's model (eval mode, on the device asked for), its config and step folder, the tokenizer it
    was trained with, and the device; UserError for anything missing or mismatched."""
    target = device_for(device)
    try:
        model, config, folder = read_model(Path(checkpoint), target)
    except ValueError as error:
        raise UserError(f"--checkpoint: {error}") from None
    return model, config, folder, Tokenizer.load(str(tokenizer_folder(config, tokenizer_dir))), target


def read_prompts(prompt: str | None, prompt_file: str | None) -> list[str]:
    if (prompt is None) == (prompt_file is None):
        raise UserError("give exactly one of --prompt TEXT and --prompt-file FILE")
    if prompt is not None:
        return [prompt]
    try:
        lines = [line for line in Path(prompt_file).read_text(encoding="utf-8").splitlines() if line.strip()]
    except OSError as error:
        raise UserError(f"--prompt-file: {error.strerror}: {prompt_file}") from None
    except UnicodeDecodeError:
        raise UserError(f"--prompt-file: {prompt_file} is not UTF-8 text") from None
    if not lines:
        raise UserError(f"--prompt-file: {prompt_file} has no prompts (one per line)")
    return lines


def run_generate(
    checkpoint: str,
    prompt: str | None = None,
    prompt_file: str | None = None,
    max_new_tokens: int = 200,
    sampling: Sampling | None = None,
    seed: int = 0,
    tokenizer_dir: str | None = None,
    batch_size: int = 16,
    output: str | None = None,
    device: str | None = None,
    console: Console | None = None,
) -> list[str]:
    """The completions, printed (streamed for one prompt) and written to `output` as JSONL when given."""
    console = console or Console()
    if min(max_new_tokens, batch_size) < 1:
        raise UserError(f"--max-new-tokens {max_new_tokens}, --batch-size {batch_size}: each must be at least 1")
    texts = read_prompts(prompt, prompt_file)
    if output and Path(output).is_dir():
        raise UserError(f"--output {output}: is a folder; name a .jsonl file")
    model, config, folder, tokenizer, target = model_and_tokenizer(checkpoint, tokenizer_dir, device)
    eos = checkpoint_eos(config, tokenizer)
    start = [eos] if eos is not None else []
    prompts = [start + tokenizer.encode(text, disallowed_special=()) for text in texts]
    if not all(prompts):
        raise UserError("a prompt is empty and the tokenizer has no end-of-text token to start from")
    console.print(f"[dim]{folder} ({model.parameter_count():,} parameters) on {target}[/]")
    began, completions, produced = time.perf_counter(), [], 0
    if len(texts) == 1:
        text, produced = stream(model, prompts[0], texts[0], max_new_tokens, sampling, {eos} - {None}, seed,
                                tokenizer, console)  # fmt: skip
        completions = [text]
    else:
        noted = False

        def note_once(kept: int) -> None:
            nonlocal noted
            if not noted:
                _slide_note(console, model.config.seq_len, kept)
                noted = True

        for first in range(0, len(prompts), batch_size):
            batch = prompts[first : first + batch_size]
            new = generate(model, batch, max_new_tokens, sampling or Sampling(), {eos} - {None}, seed + first,
                           on_slide=note_once)  # fmt: skip
            for index, tokens in enumerate(new, start=first):
                produced += len(tokens)
                completions.append(tokenizer.decode_bytes(tokens).decode("utf-8", errors="replace"))
                console.rule(f"prompt {index + 1}")
                console.print(f"[bold]{texts[index]}[/]", completions[-1], sep="", markup=True, highlight=False)
    seconds = time.perf_counter() - began
    console.print(f"[dim]{len(texts)} prompt(s), {produced:,} new tokens in {seconds:.1f} s "
                  f"({produced / max(seconds, 1e-9):,.0f} tokens/s)[/]")  # fmt: skip
    if output:
        pairs = zip(texts, completions, strict=True)
        rows = [json.dumps({"prompt": p, "completion": c}, ensure_ascii=False) for p, c in pairs]
        write_text_atomic(Path(output), "".join(row + "\n" for row in rows))
    return completions


def stream(model: GPT, prompt: list[int], text: str | None, max_new_tokens: int, sampling: Sampling | None,
           stop_ids: set[int], seed: int, tokenizer: Tokenizer, console: Console) -> tuple[str, int]:  # fmt: skip
    """Generate for one prompt, printing its `text` (when given) and then each piece of new text as soon as its
    bytes form whole characters; the new text and its token count."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    seq_len = model.config.seq_len
    cut = len(prompt) > seq_len
    if cut:  # the window slides from the start: said before the stream
        _slide_note(console, seq_len, seq_len)
    if text is not None:
        console.print(text, end="", style="bold", markup=False, highlight=False)
    pieces: list[str] = []

    def show(emitted: list[int | None]) -> None:
        if emitted[0] is not None:
            piece = decoder.decode(tokenizer.decode_bytes([emitted[0]]))
            pieces.append(piece)
            console.print(piece, end="", markup=False, highlight=False, soft_wrap=True)

    def slide(kept: int) -> None:  # the first slide, mid-stream: on a line of its own
        console.print()
        _slide_note(console, seq_len, kept)

    new = generate(model, [prompt], max_new_tokens, sampling or Sampling(), stop_ids, seed, on_step=show,
                   on_slide=None if cut else slide)  # fmt: skip
    pieces.append(decoder.decode(b"", final=True))
    console.print(pieces[-1])
    return "".join(pieces), len(new[0])


def _slide_note(console: Console, seq_len: int, kept: int) -> None:
    console.print(f"[dim]note: the model's context is {seq_len} tokens: generation goes on over the last {kept} "
                  "(the oldest tokens dropped)[/]", highlight=False)  # fmt: skip
