"""How long to train when the user gives no `--epochs`: early stopping on a validation share's log-loss.

fastText's learning rate falls linearly to zero over the epochs asked for, so a model of 2N epochs is not a
model of N trained on: each candidate is a whole training, from fastText's default of 5 epochs, doubling.
Doubling stops once it lowers the validation log-loss by less than WORTHWHILE nats per document (or raises
it), or at the last candidate. Of the candidates trained, the one with the lowest validation log-loss is
kept as it is: training it again with the validation share added would cost the dearest training once more.
fastText's own autotune is not used: it runs for a wall-clock budget, so its result depends on the machine's
speed, and it searches every hyperparameter at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

CANDIDATES = (5, 10, 20, 40, 80)
# nats per document: a doubling that raises the geometric mean of the probabilities given to the documents'
# true labels by less than 2% (exp(0.02) = 1.02) is not worth its time
WORTHWHILE = 0.02

Model = TypeVar("Model")


@dataclass(frozen=True)
class EpochSearch:
    chosen: int
    validation_log_loss: dict[int, float]  # epochs -> mean log-loss, for every candidate trained


def search_epochs(train: Callable[[int], Model], log_loss: Callable[[Model], float]) -> tuple[Model, EpochSearch]:
    """`train(epochs)`: a model; `log_loss(model)`: its mean log-loss on the validation documents."""
    first, *more = CANDIDATES
    best_epochs, best_model = first, train(first)
    losses = {first: log_loss(best_model)}
    for epochs in more:
        model = train(epochs)
        losses[epochs] = log_loss(model)
        gain = losses[best_epochs] - losses[epochs]
        if gain > 0:
            best_epochs, best_model = epochs, model
        if gain < WORTHWHILE:
            break
    return best_model, EpochSearch(best_epochs, losses)
