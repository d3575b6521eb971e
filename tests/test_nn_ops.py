"""invrestore.nn operations against the slow loop reference (and PyTorch where installed)."""

import numpy as np
import pytest

from invrestore.nn import functional as F
from invrestore.nn import reference as R
from invrestore.nn._flat import FlatGeometry, conv_flat, numba_blas_available

RNG = np.random.default_rng(1234)


def rand(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


IMPLS = ["xp"] + (["numba"] if numba_blas_available() else [])


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize(("ci", "co", "k", "pad"), [
    (1, 8, 3, 1),     # first layer: im2col band
    (5, 4, 3, 1),     # FFDNet-like head
    (20, 6, 3, 1),    # per-tap products
    (20, 1, 3, 2),    # one output channel, buffer wider than the kernel needs
    (17, 3, 1, 1),    # 1x1
    (16, 5, 5, 2),    # 5x5
])
def test_conv_flat_matches_reference(impl, ci, co, k, pad):
    h, w = 11, 14
    x, wt, b = rand(h, w, ci), rand(co, ci, k, k), rand(co)
    geo = FlatGeometry(h, w, pad)
    res = geo.to_flat(rand(h, w, co))
    y = conv_flat(geo, geo.to_flat(x), wt, b, relu=True, residual=res, impl=impl)
    ref = np.maximum(R.conv2d(x, wt, b, padding=k // 2) + geo.interior(res), 0)
    np.testing.assert_allclose(geo.interior(y), ref, atol=2e-5 * max(1, ci * k * k) ** 0.5)
    # the border stays zero: the buffer is the next layer's padded input
    grid = geo.grid(y)
    assert not grid[:pad].any() and not grid[:, :pad].any() and not grid[:, w + pad:].any()


def test_conv_flat_large_parallel_bands():
    # enough work for the parallel path and several bands
    h, w, c = 70, 90, 32
    x, wt, b = rand(h, w, c), rand(c, c, 3, 3), rand(c)
    geo = FlatGeometry(h, w, 1)
    xf = geo.to_flat(x)
    ys = [geo.interior(conv_flat(geo, xf, wt, b, impl=i)) for i in IMPLS]
    ref = R.conv2d(x[:8], wt, b, padding=1)
    np.testing.assert_allclose(ys[0][:7], ref[:7], atol=1e-4)
    for y in ys[1:]:
        np.testing.assert_allclose(y, ys[0], atol=1e-4)


def test_conv_flat_rejects_bad_buffers():
    geo = FlatGeometry(5, 6, 1)
    x = geo.to_flat(rand(5, 6, 2))
    with pytest.raises(ValueError, match="does not match"):
        conv_flat(geo, x, rand(3, 4, 3, 3))
    with pytest.raises(ValueError, match="radius"):
        conv_flat(geo, x, rand(3, 2, 5, 5))
    with pytest.raises(ValueError, match="input buffer"):
        conv_flat(FlatGeometry(5, 6, 1), x, rand(2, 2, 3, 3), out=x)


@pytest.mark.parametrize(("stride", "padding", "dilation", "k"), [
    (1, 1, 1, 3), (2, 0, 1, 2), (2, 1, 1, 3), (1, 0, 1, 3), (3, 2, 1, 4), (1, 2, 2, 3),
    ((2, 1), (1, 0), 1, 3),
])
def test_conv2d_general(stride, padding, dilation, k):
    x, wt, b = rand(13, 12, 3), rand(4, 3, k, k), rand(4)
    y = F.conv2d(x, wt, b, stride=stride, padding=padding, dilation=dilation)
    ref = R.conv2d(x, wt, b, stride=stride, padding=padding, dilation=dilation)
    assert y.shape == ref.shape and y.dtype == np.float32
    np.testing.assert_allclose(y, ref, atol=1e-4)


def test_conv2d_relu_and_errors():
    x, wt = rand(6, 7, 2), rand(3, 2, 3, 3)
    np.testing.assert_allclose(F.conv2d(x, wt, padding=1, relu=True),
                               np.maximum(R.conv2d(x, wt, padding=1), 0), atol=1e-5)
    with pytest.raises(ValueError, match="does not fit an input"):
        F.conv2d(x, rand(3, 5, 3, 3))
    with pytest.raises(ValueError, match="does not fit an image"):
        F.conv2d(x, rand(3, 2, 9, 9))
    with pytest.raises(ValueError, match=r"\(H, W, C\)"):
        F.conv2d(x[..., 0], wt)


@pytest.mark.parametrize(("stride", "padding", "output_padding", "dilation", "k"), [
    (2, 0, 0, 1, 2), (2, 1, 1, 1, 3), (1, 1, 0, 1, 3), (3, 0, 0, 1, 2), (2, 0, 0, 2, 3),
])
def test_conv_transpose2d(stride, padding, output_padding, dilation, k):
    x, wt, b = rand(5, 6, 3), rand(3, 4, k, k), rand(4)
    y = F.conv_transpose2d(x, wt, b, stride=stride, padding=padding,
                           output_padding=output_padding, dilation=dilation)
    ref = R.conv_transpose2d(x, wt, b, stride=stride, padding=padding,
                             output_padding=output_padding, dilation=dilation)
    assert y.shape == ref.shape
    np.testing.assert_allclose(y, ref, atol=1e-4)


def test_transpose_is_adjoint_of_strided_conv():
    # <conv(x), z> = <x, conv_transpose(z)> for the same weights, bias-free
    x, wt = rand(8, 10, 3), rand(5, 3, 2, 2)
    z = rand(4, 5, 5)
    lhs = float(np.sum(F.conv2d(x, wt, stride=2) * z))
    rhs = float(np.sum(x * F.conv_transpose2d(z, wt, stride=2)))
    assert lhs == pytest.approx(rhs, rel=1e-4)


@pytest.mark.parametrize("r", [2, 3])
def test_pixel_shuffles(r):
    x = rand(2 * r * 3, r * 2, 2)
    u = F.pixel_unshuffle(x, r)
    np.testing.assert_array_equal(u, R.pixel_unshuffle(x, r))
    np.testing.assert_array_equal(F.pixel_shuffle(u, r), x)
    np.testing.assert_array_equal(R.pixel_shuffle(u, r), x)
    with pytest.raises(ValueError, match="multiple"):
        F.pixel_unshuffle(x[:-1], r)


def test_fold_batchnorm_matches_explicit_bn():
    x, wt, b = rand(6, 6, 3), rand(4, 3, 3, 3), rand(4)
    gamma, beta, mean = rand(4), rand(4), rand(4)
    var = np.abs(rand(4)) + 0.1
    conv = R.conv2d(x, wt, b, padding=1)
    bn = gamma * (conv - mean) / np.sqrt(var + 1e-5) + beta
    w2, b2 = F.fold_batchnorm(wt, b, gamma, beta, mean, var, eps=1e-5)
    np.testing.assert_allclose(R.conv2d(x, w2, b2, padding=1), bn, atol=1e-4)


def test_noise_map_and_replicate_pad():
    x = rand(3, 5, 2)
    m = F.noise_map(x, 0.2)
    assert m.shape == (3, 5, 3) and np.all(m[..., 2] == np.float32(0.2))
    p = F.replicate_pad(x, 1, 2)
    assert p.shape == (4, 7, 2)
    np.testing.assert_array_equal(p[3], p[2])
    np.testing.assert_array_equal(p[:, 6], p[:, 4])


def test_against_torch():
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    x, wt, b = rand(9, 10, 4), rand(6, 4, 3, 3), rand(6)
    xt = torch.from_numpy(x).permute(2, 0, 1)[None]

    def back(t):
        return t[0].permute(1, 2, 0).numpy()

    np.testing.assert_allclose(F.conv2d(x, wt, b, padding=1),
                               back(tf.conv2d(xt, torch.from_numpy(wt), torch.from_numpy(b),
                                              padding=1)), atol=1e-4)
    np.testing.assert_allclose(F.conv2d(x, wt, b, stride=2, padding=1, dilation=2),
                               back(tf.conv2d(xt, torch.from_numpy(wt), torch.from_numpy(b),
                                              stride=2, padding=1, dilation=2)), atol=1e-4)
    wtt = rand(4, 3, 3, 3)
    np.testing.assert_allclose(
        F.conv_transpose2d(x, wtt, stride=2, padding=1, output_padding=1),
        back(tf.conv_transpose2d(xt, torch.from_numpy(wtt), stride=2, padding=1,
                                 output_padding=1)), atol=1e-4)
    np.testing.assert_array_equal(F.pixel_unshuffle(x[:8], 2),
                                  back(tf.pixel_unshuffle(xt[:, :, :8], 2)))
    np.testing.assert_array_equal(F.pixel_shuffle(x, 2), back(tf.pixel_shuffle(xt, 2)))


def _replay_gemm_plan(geo, xf, wt, b, res, chunk):
    """The cuBLAS path's calls (:func:`gemm_plan`) and epilogue, replayed with NumPy."""
    from numpy.lib.stride_tricks import as_strided

    from invrestore.nn._flat import prepare
    from invrestore.nn._flat_cuda import gemm_plan

    taps, kh, kw = prepare(wt)
    ci, co = taps.shape[1:]
    out = geo.empty(np, co)
    out[:] = np.nan  # every output row of the interior must be written, the rest untouched
    out[:geo.q_start] = 0
    out[geo.q_end:] = 0
    flat = xf.reshape(-1)
    for s, n, i, row, beta in gemm_plan(geo.q_start, geo.q_end, kh, kw, geo.wp, chunk):
        if i is None:
            v = out[s:s + n] + b + res[s:s + n]
            v = np.maximum(v, 0)
            col = (np.arange(s, s + n) - geo.slack) % geo.wp
            v[(col < geo.pad) | (col >= geo.wp - geo.pad)] = 0
            out[s:s + n] = v
            continue
        assert row >= 0 and (row + kw * (n - 1) + kw) * ci <= flat.size
        a = as_strided(flat[row * ci:], shape=(n, kw * ci), strides=(kw * ci * 4, 4))
        prod = a @ taps[i * kw:(i + 1) * kw].reshape(kw * ci, co)
        rows = slice(s, s + kw * (n - 1) + 1, kw)
        out[rows] = prod if beta == 0 else out[rows] + prod
    return out


@pytest.mark.parametrize("chunk", [1, 2, 7, 40, None])
@pytest.mark.parametrize(("ci", "co", "k", "pad"), [(1, 8, 3, 1), (6, 5, 3, 2), (4, 3, 5, 2),
                                                    (3, 2, 1, 1)])
def test_gpu_gemm_plan_computes_the_convolution(chunk, ci, co, k, pad):
    h, w = 9, 13
    x, wt, b = rand(h, w, ci), rand(co, ci, k, k), rand(co)
    geo = FlatGeometry(h, w, pad)
    res = geo.to_flat(rand(h, w, co))
    y = _replay_gemm_plan(geo, geo.to_flat(x), wt, b, res, chunk)
    ref = np.maximum(R.conv2d(x, wt, b, padding=k // 2) + geo.interior(res), 0)
    np.testing.assert_allclose(geo.interior(y), ref, atol=2e-5 * max(1, ci * k * k) ** 0.5)
    assert np.isfinite(y).all()
    grid = geo.grid(y)
    assert not grid[:pad].any() and not grid[:, :pad].any() and not grid[:, w + pad:].any()


def test_conv_flat_rejects_a_bias_of_the_wrong_length():
    geo = FlatGeometry(5, 6, 1)
    with pytest.raises(ValueError, match=r"bias must have shape \(3,\), got \(2,\)"):
        conv_flat(geo, geo.to_flat(rand(5, 6, 2)), rand(3, 2, 3, 3), rand(2))


def test_conv_flat_rejects_unknown_impl():
    geo = FlatGeometry(5, 6, 1)
    with pytest.raises(ValueError, match="impl"):
        conv_flat(geo, geo.to_flat(rand(5, 6, 2)), rand(3, 2, 3, 3), impl="cudnn")


@pytest.mark.gpu
@pytest.mark.parametrize("chunk", [None, 50, 1 << 30])
@pytest.mark.parametrize(("ci", "co", "k", "pad"), [(1, 8, 3, 1), (20, 6, 3, 1), (16, 5, 5, 2)])
def test_conv_flat_cublas_matches_reference(chunk, ci, co, k, pad):
    import cupy as cp

    from invrestore.nn._flat import prepare
    from invrestore.nn._flat_cuda import conv_flat_cupy

    h, w = 23, 31
    x, wt, b = rand(h, w, ci), rand(co, ci, k, k), rand(co)
    geo = FlatGeometry(h, w, pad)
    res = geo.to_flat(rand(h, w, co))
    ref = np.maximum(R.conv2d(x, wt, b, padding=k // 2) + geo.interior(res), 0)
    taps, kh, kw = prepare(cp.asarray(wt))
    for residual in (cp.asarray(res), None):
        out = geo.empty(cp, co)
        conv_flat_cupy(geo, cp.asarray(geo.to_flat(x)), taps, kh, kw, cp.asarray(b), True,
                       residual, out, chunk=chunk)
        want = ref if residual is not None else np.maximum(
            R.conv2d(x, wt, b, padding=k // 2), 0)
        y = cp.asnumpy(out)
        np.testing.assert_allclose(geo.interior(y), want, atol=2e-5 * max(1, ci * k * k) ** 0.5)
        grid = geo.grid(y)
        assert not grid[:pad].any() and not grid[:, :pad].any() and not grid[:, w + pad:].any()


def test_tf32_switch_is_scoped():
    from invrestore.nn import _flat_cuda, tf32

    assert _flat_cuda.ALLOW_TF32 is False
    with tf32():
        assert _flat_cuda.ALLOW_TF32 is True
        with tf32(False):
            assert _flat_cuda.ALLOW_TF32 is False
        assert _flat_cuda.ALLOW_TF32 is True
    assert _flat_cuda.ALLOW_TF32 is False


@pytest.mark.gpu
def test_dncnn_on_cupy_with_tf32_is_close_to_float32():
    from invrestore.backend import to_device, to_numpy
    from invrestore.nn import DnCNN, tf32

    net = DnCNN.random(n_layers=6, features=32, rng=3)
    gnet = net.to("cupy")
    y = np.random.default_rng(4).random((70, 90)).astype(np.float32)
    ref = net(y, 0.1)
    exact = to_numpy(gnet(to_device(y, "cupy"), 0.1))
    np.testing.assert_allclose(exact, ref, atol=1e-4)
    with tf32():
        fast = to_numpy(gnet(to_device(y, "cupy"), 0.1))
    assert np.abs(fast - ref).max() < 2e-2


def test_blas_single_thread_is_shared_by_concurrent_blocks():
    """Tiles on two threads hold the one-thread BLAS setting together: neither waits for the
    other, and the count in force before is back once both have left."""
    import threading

    from invrestore.nn import _flat

    ctl = _flat._openblas_controls()
    if ctl is None:
        pytest.skip("no OpenBLAS thread control here")
    get_fn = ctl[1]
    before = get_fn()
    both_inside = threading.Barrier(2, timeout=10)
    seen = []

    def block():
        with _flat.blas_single_thread():
            both_inside.wait()  # a block that waited for the other would time out here
            seen.append(get_fn())
            both_inside.wait()

    threads = [threading.Thread(target=block) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert seen == [1, 1]
    assert get_fn() == before
