"""`gristmill report`: the figures of a finished run (polars over its stats, shards and removed documents),
shown in the terminal, as one self-contained HTML page, and as JSON."""
