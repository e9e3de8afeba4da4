"""Kernel tests run the real Triton kernels on CPU through the interpreter (TRITON_INTERPRET=1), on small
shapes, against the PyTorch reference. Without a CUDA device the variable is set here, before triton is imported
anywhere in the test process.

With CUDA the kernels compile for the GPU instead, and a compiled kernel cannot take the CPU tensors those tests
use: there only the tests marked `gpu` (test_gpu.py, at the model's shapes) run, and every other test here is
skipped, as it is wherever the interpreter is off. Conversely the `gpu` tests are skipped under the interpreter.
To run the CPU tests on a CUDA machine, set TRITON_INTERPRET=1 for that pytest process."""

import os

import pytest
import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")


@pytest.fixture(autouse=True)
def _cpu_tests_need_the_interpreter(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("gpu") is None and os.environ.get("TRITON_INTERPRET") != "1":
        pytest.skip("a CPU kernel test: needs the Triton interpreter (TRITON_INTERPRET=1), which is off here")
