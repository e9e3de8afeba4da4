"""`gristmill ablate`: one controlled experiment over several runs: the same tokenizer, token budget, model,
seed and schedule for each, trained and evaluated on the same sets, compared with paired standard errors."""
