"""How far one `repeats/resolve` task goes: scan tables for `--records` document records (random 128-bit id
keys, `--repeat-share` of them repeating a record of the first file), then the resolve step on them, timed,
with the process's peak memory above what it held before. Prints records, seconds, peak and bytes/record.

    python bench/repeats_resolve.py --records 100000000 --output bench/results/repeats-resolve.txt
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from pipeline.dedup.dataset import write_table_atomic
from pipeline.steps.repeats import SCAN_SCHEMA, RepeatResolveStep, RepeatsFolder


def write_scans(folder: RepeatsFolder, files: int, per_file: int, repeat_share: float) -> None:
    """Scan tables as the scan job writes them, and its completion markers."""
    rng = np.random.default_rng(0)
    first_hi = first_lo = np.zeros(0, np.uint64)
    for index in range(files):
        hi = rng.integers(0, 2**64 - 1, per_file, dtype=np.uint64, endpoint=True)
        lo = rng.integers(0, 2**64 - 1, per_file, dtype=np.uint64, endpoint=True)
        if index == 0:
            first_hi, first_lo = hi.copy(), lo.copy()
        else:
            repeats = np.flatnonzero(rng.random(per_file) < repeat_share)
            hi[repeats], lo[repeats] = first_hi[repeats], first_lo[repeats]
        columns = [hi, lo, np.zeros(per_file, np.uint64), np.ones(per_file, bool)]
        sources = pa.array([f"file-{index}@{row}" for row in range(per_file)], pa.string())
        write_table_atomic(folder.scan(index), pa.table([*columns, sources], schema=SCAN_SCHEMA))
        folder.scan_done(index).parent.mkdir(parents=True, exist_ok=True)
        folder.scan_done(index).touch()


def peak_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000_000)
    parser.add_argument("--per-file", type=int, default=500_000)
    parser.add_argument("--repeat-share", type=float, default=0.01)
    parser.add_argument("--output", type=Path, help="also write the result here")
    args = parser.parse_args()
    files = max(args.records // args.per_file, 1)
    with tempfile.TemporaryDirectory() as tmp:
        folder = RepeatsFolder(Path(tmp) / "repeats")
        write_scans(folder, files, args.per_file, args.repeat_share)
        before = peak_bytes()
        started = time.perf_counter()
        list(RepeatResolveStep(files, files, folder.root).run())
        seconds = time.perf_counter() - started
        peak = peak_bytes()
        figures = json.loads(folder.stats.read_text())
    records = files * args.per_file
    line = (
        f"bench/repeats_resolve.py: {records:,} records in {files} files, {figures['repeats']:,} repeats: "
        f"{seconds:.1f} s, peak {peak / 2**20:,.0f} MiB ({before / 2**20:,.0f} MiB before resolve), "
        f"{(peak - before) / records:.1f} B/record, {time.strftime('%Y-%m-%d %H:%M')}"
    )
    print(line)
    if args.output:
        args.output.write_text(line + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
