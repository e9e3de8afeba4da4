"""The model being evaluated, as one interface over a gristmill checkpoint and a Hugging Face folder: its
tokenizer, how a context starts (the prefix rule), its context length, and per-token log-probabilities.

The prefix rule says what comes before a context's first token (`--prefix-token`):

- `auto` (the default): a Hugging Face model's contexts are encoded as its tokenizer does by default, which is
  lm-evaluation-harness's default (`add_bos_token` unset), so figures compare with it: a Llama-style tokenizer
  puts its BOS first, a GPT-2-style one puts nothing. A gristmill checkpoint's contexts start with its
  end-of-text token: packing separates documents with it, so in training every document started right after
  one, and a context scored after it is scored the way the model saw texts begin.
- `always`: the prefix token first (a gristmill model's end-of-text; a Hugging Face tokenizer's BOS, else its
  EOS): lm-evaluation-harness's `add_bos_token=True`.
- `never`: the context's own tokens only: its `add_bos_token=False`.

Whatever the rule, an empty context is the prefix token alone (there must be a token to condition on), and
bits per byte always scores a document after the prefix token (every byte of the text is then scored).

A Hugging Face folder is read with safetensors weights only and never with `trust_remote_code`, so a folder
cannot run code. On a GPU a gristmill model runs under bf16 autocast (as it trained) and a Hugging Face model in
bf16; on the CPU both run in float32, where the figures are exact to float rounding.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from gristmill_base.errors import UserError


@dataclass
class Scored:
    """Per scored token: its log-probability and whether it was the model's most likely token."""

    logprobs: np.ndarray  # float64
    greedy: np.ndarray  # bool


PREFIX_OPTIONS = ("auto", "always", "never")


class ScoringModel(Protocol):
    name: str
    prefix_id: int
    prefix_rule: str  # as resolved for this model: "tokenizer" (a Hugging Face tokenizer's own), "always" or "never"
    max_length: int
    device: torch.device

    def encode(self, text: str) -> list[int]: ...

    def context_ids(self, text: str) -> list[int]: ...

    def token_text(self, token_id: int) -> str: ...

    def score(self, rows: list[list[int]], scored: list[int]) -> list[Scored]: ...


class TokenScorer:
    """What both kinds share: the batch of rows in, the log-probabilities of each row's last `scored` tokens out.
    Rows are right-padded (a causal model's earlier positions never see the padding)."""

    def __init__(self, name: str, prefix_id: int, max_length: int, device: torch.device, bf16: bool,
                 prefix_rule: str = "always"):  # fmt: skip
        self.name, self.prefix_id, self.max_length, self.device, self.bf16 = name, prefix_id, max_length, device, bf16
        self.prefix_rule = prefix_rule

    def encode(self, text: str) -> list[int]:
        raise NotImplementedError

    def context_ids(self, text: str) -> list[int]:
        """The ids of a text that starts a context: after the prefix token under `always`, alone under `never`."""
        ids = self.encode(text)
        return [self.prefix_id, *ids] if self.prefix_rule == "always" else ids

    def token_text(self, token_id: int) -> str:
        return str(token_id)

    @torch.no_grad()
    def score(self, rows: list[list[int]], scored: list[int]) -> list[Scored]:
        width = max(len(row) for row in rows) - 1
        inputs = torch.zeros(len(rows), width, dtype=torch.long)
        batch_index, positions, targets = [], [], []
        for b, (row, count) in enumerate(zip(rows, scored, strict=True)):
            inputs[b, : len(row) - 1] = torch.tensor(row[:-1])
            first = len(row) - 1 - count
            batch_index += [b] * count
            positions += range(first, len(row) - 1)
            targets += row[len(row) - count :]
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            logits = self._logits(inputs.to(self.device), torch.tensor(batch_index), torch.tensor(positions))
        logprobs = torch.log_softmax(logits.double(), dim=-1)
        wanted = torch.tensor(targets, device=logprobs.device)
        picked = logprobs.gather(1, wanted[:, None])[:, 0].cpu().numpy()
        greedy = (logprobs.argmax(dim=-1) == wanted).cpu().numpy()
        out, start = [], 0
        for count in scored:
            out.append(Scored(picked[start : start + count], greedy[start : start + count]))
            start += count
        return out

    def _logits(self, inputs: torch.Tensor, batch_index: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class GristmillModel(TokenScorer):
    def __init__(self, model: Any, tokenizer: Any, tokenizer_dir: Path, eos: int, name: str, device: torch.device,
                 bf16: bool, prefix: str = "auto"):  # fmt: skip
        """A GPT and its tokenizer, loaded from a checkpoint (`from_checkpoint`) or being trained. `auto` is
        `always`: its contexts start after end-of-text, as its training documents did."""
        self.model, self.tokenizer, self.tokenizer_dir = model, tokenizer, tokenizer_dir
        rule = "always" if prefix == "auto" else prefix
        super().__init__(name, eos, model.config.seq_len, device, bf16, rule)

    @classmethod
    def from_checkpoint(cls, path: Path, tokenizer_dir: str | None, device: torch.device, dtype: str,
                        prefix: str = "auto") -> GristmillModel:  # fmt: skip
        from tokenizer import Tokenizer
        from train.checkpoint import read_model
        from train.generate_command import checkpoint_eos, tokenizer_folder

        try:
            model, config, folder = read_model(path, device)
        except ValueError as error:
            raise UserError(f"model: {error}") from None
        folder_of_tokenizer = tokenizer_folder(config, tokenizer_dir)
        tokenizer = Tokenizer.load(str(folder_of_tokenizer))
        eos = checkpoint_eos(config, tokenizer)
        if eos is None:
            raise UserError(f"model {path}: the checkpoint records no end-of-text id to condition texts on")
        bf16 = dtype == "bf16" or (dtype == "auto" and device.type == "cuda")
        return cls(model, tokenizer, folder_of_tokenizer, eos, str(folder), device, bf16, prefix)

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, disallowed_special=())

    def token_text(self, token_id: int) -> str:
        special = {i: token for token, i in self.tokenizer.special_ids.items()}
        return special.get(token_id) or self.tokenizer.decode([token_id])

    def _logits(self, inputs: torch.Tensor, batch_index: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        hidden = self.model.hidden_states(inputs)
        return self.model.logits(hidden[batch_index, positions])


class HuggingFaceModel(TokenScorer):
    def __init__(self, path: Path, device: torch.device, dtype: str, prefix: str = "auto"):
        if not any(path.glob("*.safetensors")):
            raise UserError(f"model {path}: no .safetensors weights (pickled .bin weights are not read)")
        try:
            import transformers
        except ImportError:
            raise UserError("a Hugging Face model needs transformers: pip install -e '.[hf]'") from None
        bf16 = dtype == "bf16" or (dtype == "auto" and device.type == "cuda")
        try:
            self.model = (
                transformers.AutoModelForCausalLM.from_pretrained(
                    str(path),
                    dtype=torch.bfloat16 if bf16 else torch.float32,
                    use_safetensors=True,
                    trust_remote_code=False,
                )
                .to(device)
                .eval()
            )
            self.tokenizer = transformers.AutoTokenizer.from_pretrained(str(path), trust_remote_code=False)
        except (OSError, ValueError, KeyError) as error:
            raise UserError(f"model {path}: transformers cannot load it: {str(error).splitlines()[0]}") from None
        # the token an empty context is (and `always` puts first): lm-evaluation-harness's prefix_token_id
        tokenizer = self.tokenizer
        prefix_id = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
        if prefix_id is None:
            raise UserError(f"model {path}: its tokenizer names no BOS or EOS token to condition texts on")
        self.prefix_text = tokenizer.decode([prefix_id])
        config = self.model.config
        length = getattr(config, "max_position_embeddings", None) or tokenizer.model_max_length
        tokenizer.model_max_length = 2**62  # long texts are cut here, in windows: no warning from transformers
        rule = "tokenizer" if prefix == "auto" else prefix
        super().__init__(str(path), int(prefix_id), int(length), device, bf16=False, prefix_rule=rule)

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False)

    def context_ids(self, text: str) -> list[int]:
        """Under `tokenizer`, the tokenizer's own special tokens. A text that already begins with the prefix
        token's text brings its own and gets none added, whatever the rule (as in lm-evaluation-harness)."""
        if text.startswith(self.prefix_text):
            return self.encode(text)
        if self.prefix_rule == "tokenizer":
            return self.tokenizer.encode(text)
        return super().context_ids(text)

    def token_text(self, token_id: int) -> str:
        return self.tokenizer.decode([token_id])

    def _logits(self, inputs: torch.Tensor, batch_index: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=inputs).logits[batch_index, positions].float()


def load_model(
    location: str,
    tokenizer_dir: str | None = None,
    device: str | None = None,
    dtype: str = "auto",
    max_length: int | None = None,
    prefix: str = "auto",
) -> ScoringModel:
    """A gristmill checkpoint (a step folder, or a training output with `latest`) or a Hugging Face folder, its
    contexts started by the `prefix` rule (see the module's docstring)."""
    from train.generate_command import device_for

    path = Path(location)
    if not path.is_dir():
        raise UserError(f"model {location}: no such folder")
    where = device_for(device)
    model: ScoringModel
    if _is_hugging_face(path):
        if tokenizer_dir:
            raise UserError("--tokenizer: a Hugging Face folder brings its own tokenizer")
        model = HuggingFaceModel(path, where, dtype, prefix)
    else:
        model = GristmillModel.from_checkpoint(path, tokenizer_dir, where, dtype, prefix)
    if max_length:
        model.max_length = min(model.max_length, max_length)
    return model


def _is_hugging_face(path: Path) -> bool:
    config = path / "config.json"
    if not config.is_file():
        return False
    try:
        settings: Any = json.loads(config.read_text())
    except (OSError, json.JSONDecodeError):
        return False
    return isinstance(settings, dict) and "model_type" in settings
