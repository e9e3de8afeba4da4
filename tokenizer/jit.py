"""numba when it is installed, plain Python when not: the same functions run either way (one implementation).

`njit` compiles (and caches on disk, beside the source) where numba exists and does nothing otherwise.
"""

from __future__ import annotations

from typing import Any

try:
    from numba import njit
except ImportError:

    def njit(*args: Any, **kwargs: Any) -> Any:  # type: ignore[no-redef]
        return args[0] if args and callable(args[0]) else (lambda function: function)
