"""A local Hugging Face sequence-classification model as a document scorer: an encoder with a one-output
regression head (the FineWeb-Edu classifier's shape: an educational score, kept at >= 3) or a classifier
over labels. Weights are read from safetensors only and never with `trust_remote_code`, so a model folder
cannot run code. Batches run in bf16 on a GPU when there is one, in float32 on the CPU otherwise.

transformers is the `hf` extra (`pip install -e ".[hf]"`); it and torch are imported only when such a model
is loaded, so recipes without this stage start without them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gristmill_base.errors import UserError


class HfModel:
    def __init__(self, model: Any, tokenizer: Any, device: Any, location: str, max_tokens: int, batch: int):
        self._model = model
        self._tokenizer = tokenizer
        self.device = device
        self.location = location
        self.max_tokens = max_tokens
        self.batch_size = batch
        config = model.config
        self.regression = config.num_labels == 1
        count = 0 if self.regression else config.num_labels
        self.labels: tuple[str, ...] = tuple(config.id2label[i] for i in range(count))

    @classmethod
    def load(cls, location: str, device: str = "auto", max_tokens: int = 512, batch_size: int = 32) -> HfModel:
        folder = Path(location)
        if not folder.is_dir() or not (folder / "config.json").is_file():
            raise UserError(f"model {location}: not a Hugging Face model folder (no config.json)")
        if not any(folder.glob("*.safetensors")):
            raise UserError(f"model {location}: no .safetensors weights (pickled .bin weights are not read)")
        import torch

        try:
            import transformers
        except ImportError:
            raise UserError('kind = "hf_classifier" needs transformers: pip install -e ".[hf]"') from None
        transformers.utils.logging.disable_progress_bar()  # a run's screen shows its own progress
        transformers.utils.logging.set_verbosity_error()
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        chosen = torch.device(device)
        dtype = torch.bfloat16 if chosen.type == "cuda" else torch.float32
        try:
            tokenizer = transformers.AutoTokenizer.from_pretrained(
                folder, local_files_only=True, trust_remote_code=False
            )
            model = transformers.AutoModelForSequenceClassification.from_pretrained(
                folder, local_files_only=True, trust_remote_code=False, use_safetensors=True, dtype=dtype
            )
        except (OSError, ValueError, KeyError) as error:
            raise UserError(f"model {location}: cannot be loaded ({type(error).__name__}: {error})") from None
        return cls(model.to(chosen).eval(), tokenizer, chosen, location, max_tokens, batch_size)

    def require_label(self, label: str) -> None:
        if self.regression:
            raise UserError(f"model {self.location}: a regression model has no labels (keep_label {label!r})")
        if label not in self.labels:
            raise UserError(f"model {self.location}: no label {label!r}; its labels: {', '.join(self.labels)}")

    def scores(self, texts: list[str], label: str | None = None) -> list[tuple[str | None, float]]:
        """(top label, probability) per text, with `label` that label's probability; a regression model gives
        (None, its output). Texts go in batches of `batch_size`, each cut at `max_tokens` tokens."""
        import torch

        out: list[tuple[str | None, float]] = []
        for start in range(0, len(texts), self.batch_size):
            chunk = texts[start : start + self.batch_size]
            batch = [text.encode("utf-8", "replace").decode("utf-8") for text in chunk]  # no lone surrogates
            encoded = self._tokenizer(
                batch, truncation=True, max_length=self.max_tokens, padding=True, return_tensors="pt"
            )
            with torch.inference_mode():
                logits = self._model(**encoded.to(self.device)).logits.float().cpu()
            if self.regression:
                out += [(None, float(value)) for value in logits[:, 0]]
                continue
            probabilities = torch.softmax(logits, dim=-1)
            wanted = self.labels.index(label) if label else None
            for row in probabilities:
                top = int(row.argmax())
                out.append((self.labels[top], float(row[top] if wanted is None else row[wanted])))
        return out
