"""`[eval]` in a training config: text sets and tasks scored every `eval.every` steps on the model being
trained, with `gristmill eval`'s code, logged beside the validation loss as `eval/<set>_bpb`,
`eval/<task>_acc` and `eval/<task>_acc_norm` (console, metrics.jsonl, TensorBoard, W&B).

Contexts start after end-of-text, the gristmill rule (train/eval/models.py), so the figures equal those of
`gristmill eval` on the saved checkpoint. Files are read and tokenized once, at the start, so a bad file stops
the run before step 1. The main rank
scores while the others wait: the model is whole on every rank under DDP. Under FSDP the weights are sharded
and the scoring (which calls the model's parts, not its forward) would need them whole, so it is refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from gristmill_base.errors import UserError
from train.config import EvalSection
from train.eval.likelihood import score_requests
from train.eval.models import GristmillModel
from train.eval.scoring import evaluate_task
from train.eval.tasks import read_task
from train.eval.texts import bits_per_byte, read_text_source, text_set_for


class TrainingEvaluation:
    def __init__(self, section: EvalSection, model: torch.nn.Module, tokenizer_dir: str | None, eos_id: int,
                 device: torch.device, bf16: bool, sharded: bool):  # fmt: skip
        if sharded:
            raise UserError("eval.sets / eval.tasks: not under run.parallel = 'fsdp' (the weights are sharded); "
                            "evaluate the checkpoints with `gristmill eval`")  # fmt: skip
        if tokenizer_dir is None:
            raise UserError("eval.sets / eval.tasks need the tokenizer: set data.tokenizer")
        from tokenizer import Tokenizer

        self.scorer = GristmillModel(model, Tokenizer.load(tokenizer_dir), Path(tokenizer_dir), eos_id, "training",
                                     device, bf16)  # fmt: skip
        self.batch_size = section.batch_size
        self.sets = [text_set_for(read_text_source(spec, section.text_field, section.limit), self.scorer)
                     for spec in section.sets]  # fmt: skip
        self.tasks = [read_task(spec, section.limit) for spec in section.tasks]

    @torch.no_grad()
    def __call__(self) -> dict[str, Any]:
        model = self.scorer.model
        was_training = model.training
        model.eval()
        found: dict[str, Any] = {}
        for text_set in self.sets:
            scored = score_requests(self.scorer, text_set.requests, self.batch_size)
            found[f"eval/{text_set.name}_bpb"] = bits_per_byte(text_set, [s.logprobs for s in scored])["bits_per_byte"]
        for task in self.tasks:
            figures, _ = evaluate_task(self.scorer, task, self.batch_size)
            found[f"eval/{task.name}_acc"] = figures["acc"]
            if "acc_norm" in figures:
                found[f"eval/{task.name}_acc_norm"] = figures["acc_norm"]
        model.train(was_training)
        return found
