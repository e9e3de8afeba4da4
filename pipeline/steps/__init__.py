"""datatrove pipeline steps: how gristmill stages run inside executor tasks."""
