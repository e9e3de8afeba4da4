"""On a CUDA GPU: every Triton kernel at model-sized shapes, forward and the gradient of every input, against the
PyTorch reference; in bf16 (the training dtype), and the linear + cross-entropy in fp32 as well. Skipped without
CUDA, and under the Triton interpreter (the CPU tests' mode).

How close is close enough: the kernel and the reference run on the same inputs in the same dtype, and both are
compared with the reference run in fp64 on those inputs (fp32 math inside it: far finer than bf16). The kernel's
relative error (over the whole tensor) may be at most twice the reference's own plus a slack (1e-3 in bf16,
1e-5 in fp32): a kernel that rounds as PyTorch does passes; a wrong one (swapped arguments, a missing term in a
gradient, a misplaced row) is tens of per cent off."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F

from model.gpt import rope_tables
from model.kernels import reference
from model.kernels.launch import interpreting

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
    pytest.mark.skipif(interpreting(), reason="the Triton interpreter is on (TRITON_INTERPRET=1): CPU tests only"),
]
SLACK = {torch.bfloat16: 1e-3, torch.float32: 1e-5}


def outputs_and_gradients(function: Callable, inputs: list[torch.Tensor], upstream: list[torch.Tensor]) -> list:
    """The function's outputs, then the gradient of each input, for the given upstream gradients."""
    leaves = [x.detach().clone().requires_grad_() for x in inputs]
    out = function(*leaves)
    outs = out if isinstance(out, tuple) else (out,)
    torch.autograd.backward(outs, [u.to(o.dtype) for o, u in zip(outs, upstream, strict=True)])
    return [o.detach() for o in outs] + [leaf.grad for leaf in leaves]


def relative_error(value: torch.Tensor, exact: torch.Tensor) -> float:
    return float((value.double() - exact.double()).norm() / exact.double().norm())


def assert_as_close_as_pytorch(kernel: Callable, definition: Callable, inputs: list[torch.Tensor],
                               upstream: list[torch.Tensor], names: list[str]) -> None:  # fmt: skip
    """`names`: of the outputs, then of the inputs' gradients. `definition`: the reference (or a formula)."""
    slack = SLACK[inputs[0].dtype]
    ours = outputs_and_gradients(kernel, inputs, upstream)
    pytorch = outputs_and_gradients(definition, inputs, upstream)
    exact = outputs_and_gradients(definition, [x.double() for x in inputs], [u.double() for u in upstream])
    for name, a, b, c in zip(names, ours, pytorch, exact, strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape, f"{name}: {a.dtype} {tuple(a.shape)}, reference's {b.dtype}"
        error, allowed = relative_error(a, c), 2 * relative_error(b, c) + slack
        assert error <= allowed, f"{name}: relative error {error:.2e} (PyTorch's {relative_error(b, c):.2e})"


def bf16(*shape: int, scale: float = 1.0) -> torch.Tensor:
    return (torch.randn(*shape, device="cuda") * scale).bfloat16()


def test_rms_norm_forward_and_gradients_of_input_and_weight() -> None:
    from model.kernels.rmsnorm import rms_norm

    torch.manual_seed(0)
    x, weight, upstream = bf16(4096, 1536), (torch.rand(1536, device="cuda") + 0.5).bfloat16(), bf16(4096, 1536)
    assert_as_close_as_pytorch(lambda a, w: rms_norm(a, w, 1e-6), lambda a, w: reference.rms_norm(a, w, 1e-6),
                               [x, weight], [upstream], ["out", "grad x", "grad weight"])  # fmt: skip


def test_swiglu_is_silu_of_the_gate_times_up_forward_and_gradients() -> None:
    """Against the formula itself, with gate and up drawn apart (up shifted): swapped arguments would fail."""
    from model.kernels.activations import swiglu

    torch.manual_seed(1)
    gate, up, upstream = bf16(4096, 1536), (torch.randn(4096, 1536, device="cuda") + 1.0).bfloat16(), bf16(4096, 1536)
    formula = lambda g, u: (F.silu(g.float()) * u.float()).to(g.dtype)  # noqa: E731
    names = ["out", "grad gate", "grad up"]
    assert_as_close_as_pytorch(swiglu, formula, [gate, up], [upstream], names)
    assert_as_close_as_pytorch(swiglu, reference.swiglu, [gate, up], [upstream], names)
    assert relative_error(swiglu(up, gate), formula(gate, up)) > 0.3  # the inputs tell the arguments apart


def test_relu2_forward_and_gradient() -> None:
    from model.kernels.activations import relu2

    torch.manual_seed(2)
    x, upstream = bf16(4096, 1536), bf16(4096, 1536)
    assert_as_close_as_pytorch(relu2, reference.relu2, [x], [upstream], ["out", "grad x"])


def test_rope_on_q_and_k_forward_and_gradients() -> None:
    from model.kernels.rope import rope_qk

    torch.manual_seed(3)
    cos, sin = (t.cuda() for t in rope_tables(512, 64, 10_000.0))
    q, k = bf16(2, 8, 512, 64), bf16(2, 2, 512, 64)  # grouped: 8 query heads, 2 key heads
    dq, dk = bf16(2, 8, 512, 64), bf16(2, 2, 512, 64)
    assert_as_close_as_pytorch(lambda a, b: rope_qk(a, b, cos, sin),
                               lambda a, b: (reference.rope(a, cos, sin), reference.rope(b, cos, sin)),
                               [q, k], [dq, dk], ["q out", "k out", "grad q", "grad k"])  # fmt: skip


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])
@pytest.mark.parametrize("options", [{}, {"softcap": 30.0, "z_loss": 1e-4}])
def test_linear_cross_entropy_loss_and_gradients(dtype: torch.dtype, options: dict) -> None:
    from model.kernels.cross_entropy import linear_cross_entropy

    torch.manual_seed(4)
    hidden = torch.randn(2048, 512, device="cuda").to(dtype)
    weight = (torch.randn(50000, 512, device="cuda") * 0.05).to(dtype)
    targets = torch.randint(0, 50000, (2048,), device="cuda")
    targets[::7] = -100  # ignored positions count in neither the mean nor the gradients
    assert_as_close_as_pytorch(lambda h, w: linear_cross_entropy(h, w, targets, **options),
                               lambda h, w: reference.linear_cross_entropy(h, w, targets, **options),
                               [hidden, weight], [torch.tensor(1.7, device="cuda")],
                               ["loss", "grad hidden", "grad weight"])  # fmt: skip
