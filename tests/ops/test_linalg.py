"""Matrix product: 1-D operands, 2-D, batched with broadcasting batch axes."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minidl as md
from tests.helpers import assert_close, rand_tensor
from tests.strategies import broadcastable_pair, seeds

SEEDS = seeds
SIDE = st.integers(1, 4)


@st.composite
def matmul_shapes(draw):
    """Operand shapes for a @ b: vectors, matrices, or stacks whose batch axes broadcast."""
    m, k, n = draw(SIDE), draw(SIDE), draw(SIDE)
    batch_a, batch_b = draw(broadcastable_pair(max_dims=2))
    a = draw(st.sampled_from([(k,), (m, k), batch_a + (m, k)]))
    b = draw(st.sampled_from([(k,), (k, n), batch_b + (k, n)]))
    return a, b


@given(case=matmul_shapes(), seed=SEEDS)
def test_matmul_gradcheck(backend, case, seed):
    sa, sb = case
    a = rand_tensor(sa, backend, seed)
    b = rand_tensor(sb, backend, seed + 1)
    out = a @ b
    expected = a.numpy() @ b.numpy()
    assert out.shape == expected.shape
    assert_close(out, expected)
    assert md.gradcheck(lambda x, y: x @ y, a, b)


@given(case=matmul_shapes(), seed=SEEDS)
def test_matmul_one_side_constant(backend, case, seed):
    sa, sb = case
    a = rand_tensor(sa, backend, seed)
    b = rand_tensor(sb, backend, seed + 1, requires_grad=False)
    assert md.gradcheck(lambda x: x @ b, a)
    assert md.gradcheck(lambda y: a.detach() @ y, rand_tensor(sb, backend, seed + 2))


def test_matmul_batched_broadcast_matches_torch(backend):
    # torch.float64: a (2, 3) @ b (4, 3, 2), y.backward(linspace(-1, 1, 16).reshape(4, 2, 2))
    a = md.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True, device=backend)
    b = md.tensor(np.arange(24.0).reshape(4, 3, 2) / 10 - 1, requires_grad=True, device=backend)
    y = a @ b
    y.backward(md.tensor(np.linspace(-1, 1, 16).reshape(4, 2, 2), device=backend))
    assert_close(y, [[[-2.0, -1.7], [-9.2, -8.0]], [[-0.2, 0.1], [-2.0, -0.8]],
                     [[1.6, 1.9], [5.2, 6.4]], [[3.4, 3.7], [12.4, 13.6]]], rtol=1e-12, atol=1e-12)
    assert_close(a.grad, [[3.2800000000000002, 3.066666666666667, 2.853333333333333],
                          [3.1733333333333333, 3.386666666666667, 3.6]])
    assert_close(b.grad, [
        [[-2.2, -1.7999999999999998], [-3.9333333333333336, -3.2666666666666666],
         [-5.666666666666667, -4.733333333333333]],
        [[-0.6000000000000001, -0.20000000000000004], [-1.2666666666666666, -0.6000000000000001],
         [-1.9333333333333333, -1.0]],
        [[1.0, 1.4], [1.4000000000000001, 2.066666666666667], [1.8000000000000003, 2.7333333333333334]],
        [[2.6, 3.0], [4.066666666666666, 4.733333333333333], [5.533333333333334, 6.466666666666667]]])


def test_matmul_vector_operands_match_torch(backend):
    b = md.tensor(np.arange(24.0).reshape(4, 3, 2) / 10 - 1, requires_grad=True, device=backend)
    v = md.tensor([1.0, -2.0], dtype="float64", requires_grad=True, device=backend)
    y = b @ v
    assert y.shape == (4, 3)
    y.sum().backward()
    assert_close(v.grad, [1.2000000000000004, 2.3999999999999995])
    assert_close(b.grad, np.broadcast_to([1.0, -2.0], (4, 3, 2)))
    u = md.tensor([1.0, -2.0, 0.5], dtype="float64", requires_grad=True, device=backend)
    b.grad = None
    y = u @ b
    assert y.shape == (4, 2)
    y.sum().backward()
    assert_close(u.grad, [-0.3999999999999997, 1.2000000000000002, 2.8])
    assert_close(b.grad, np.broadcast_to([[1.0], [-2.0], [0.5]], (4, 3, 2)))
    # vector @ vector is a 0-d dot product
    p = md.tensor([1.0, 2.0, 3.0], dtype="float64", requires_grad=True, device=backend)
    d = p @ u
    assert d.shape == () and d.item() == pytest.approx(-1.5)
    d.backward()
    assert_close(p.grad, [1.0, -2.0, 0.5])
    assert_close(u.grad, [-0.3999999999999997 + 1.0, 1.2000000000000002 + 2.0, 2.8 + 3.0])


def test_matmul_with_numpy_array_on_the_left():
    w = md.tensor(np.eye(2) * 3, requires_grad=True)
    y = np.array([[1.0, 2.0]]) @ w
    assert isinstance(y, md.Tensor)
    y.sum().backward()
    assert_close(w.grad, [[1.0, 1.0], [2.0, 2.0]])


@pytest.mark.parametrize("sa, sb", [((2, 3), (4, 5)), ((3,), (4,)), ((2, 3), (2,)), ((5, 2, 3), (4, 3, 2))])
def test_matmul_shape_mismatch_names_op_and_both_shapes(backend, sa, sb):
    with pytest.raises(ValueError) as info:
        md.ones(*sa, device=backend) @ md.ones(*sb, device=backend)
    msg = str(info.value)
    assert "MatMul" in msg and str(sa) in msg and str(sb) in msg


def test_matmul_rejects_0d_operands(backend):
    with pytest.raises(ValueError, match="MatMul"):
        md.tensor(2.0, device=backend) @ md.ones(2, device=backend)
