"""`gristmill eval`: bits per byte on text sets and accuracy on multiple-choice and cloze tasks, for a gristmill
checkpoint or a Hugging Face folder."""
