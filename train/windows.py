"""What a batch of windows passes to the model besides its tokens: for document-masked training, each
token's document (attention stays inside it) and, when positions restart per document, its position."""

from __future__ import annotations

import numpy as np
import torch

from model.attention import document_positions


def window_masks(documents: np.ndarray | None, device: torch.device, restart: bool) -> dict[str, torch.Tensor]:
    """`documents` (and `positions` with `restart`) for `GPT.forward`, from a batch's document index of each
    window token [batch, seq_len + 1]; nothing for a batch without them."""
    if documents is None:
        return {}
    inputs = torch.from_numpy(np.ascontiguousarray(documents[:, :-1])).to(device)  # the inputs' documents
    return {"documents": inputs, **({"positions": document_positions(inputs)} if restart else {})}
