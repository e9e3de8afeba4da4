"""numba when it is installed, plain Python when not: the same functions run either way (one implementation).

`njit` compiles (and caches on disk) where numba exists and does nothing otherwise; `int_dict()` is the
int -> int dict those functions take: numba's typed dict, or a plain dict.
"""

from __future__ import annotations

from typing import Any

try:
    from numba import njit, types
    from numba.typed import Dict

    def int_dict() -> Any:
        return Dict.empty(key_type=types.int64, value_type=types.int64)

except ImportError:

    def njit(*args: Any, **kwargs: Any) -> Any:  # type: ignore[no-redef]
        return args[0] if args and callable(args[0]) else (lambda function: function)

    def int_dict() -> Any:  # type: ignore[misc]
        return {}


@njit(cache=True)
def get(table: dict, key: int, default: int) -> int:
    """`table.get(key, default)` as numba types it: an int, never an optional."""
    return table[key] if key in table else default  # noqa: SIM401  (numba types .get as optional)
