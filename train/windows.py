"""What a batch of windows passes to the model besides its tokens: for document-masked training, each
token's document (attention stays inside it) and, when positions restart per document, its position; and
the target that marks a position as not learned."""

from __future__ import annotations

import numpy as np
import torch

from model.attention import document_positions

IGNORE = -100  # a target the loss leaves out (the cross entropy's ignore_index)


def window_masks(documents: np.ndarray | None, device: torch.device, restart: bool) -> dict[str, torch.Tensor]:
    """`documents` (and `positions` with `restart`) for `GPT.forward`, from the document index of each input
    token [batch, seq_len]; nothing without them."""
    if documents is None:
        return {}
    inputs = torch.from_numpy(np.ascontiguousarray(documents)).to(device)
    return {"documents": inputs, **({"positions": document_positions(inputs)} if restart else {})}
