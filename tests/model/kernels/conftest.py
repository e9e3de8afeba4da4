"""Kernel tests run the real Triton kernels on CPU through the interpreter (TRITON_INTERPRET=1), on small
shapes, against the PyTorch reference. Set before triton is imported anywhere in the test process."""

import os

os.environ.setdefault("TRITON_INTERPRET", "1")
