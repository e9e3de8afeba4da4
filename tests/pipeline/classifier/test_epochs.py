"""The early-stopping rule on its own: candidates are trained in order, doubling, until a doubling gains less
than WORTHWHILE of validation log-loss; the candidate with the lowest loss is returned, the others are not
trained. Each "model" here is its epoch count and its loss is read from a table of losses."""

from __future__ import annotations

from pipeline.classifier.epochs import CANDIDATES, WORTHWHILE, search_epochs


def run(losses: dict[int, float]) -> tuple[int, dict[int, float], list[int]]:
    trained: list[int] = []

    def train(epochs: int) -> int:
        trained.append(epochs)
        return epochs

    model, search = search_epochs(train, losses.__getitem__)
    assert model == search.chosen
    return search.chosen, search.validation_log_loss, trained


def test_doubling_stops_at_the_first_small_gain_and_keeps_the_lowest_loss():
    assert CANDIDATES == (5, 10, 20, 40, 80) and WORTHWHILE == 0.02
    chosen, losses, trained = run({5: 0.6, 10: 0.1, 20: 0.09, 40: 0.05, 80: 0.01})
    assert (chosen, trained) == (20, [5, 10, 20])  # 0.1 -> 0.09 gains 0.01: not worth 40 epochs
    assert losses == {5: 0.6, 10: 0.1, 20: 0.09}


def test_a_rising_loss_stops_and_the_model_before_it_is_kept():
    chosen, _, trained = run({5: 0.5, 10: 0.2, 20: 0.3, 40: 0.0, 80: 0.0})
    assert (chosen, trained) == (10, [5, 10, 20])


def test_large_gains_train_every_candidate():
    chosen, _, trained = run({5: 0.9, 10: 0.6, 20: 0.3, 40: 0.2, 80: 0.1})
    assert (chosen, trained) == (80, list(CANDIDATES))
