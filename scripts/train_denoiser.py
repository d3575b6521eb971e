"""Train invrestore's shipped noise-level-conditional gray denoiser (FFDNet-like) on Train400.

Architecture ("ffdnet" in the project's ``.npz`` format, see :mod:`invrestore.nn`): replicate
pad to an even size, 2x2 pixel unshuffle (4 channels) plus a constant noise-map channel equal to
sigma (5 inputs), ``n_layers`` 3x3 convolutions with ``features`` channels and ReLU, 4 outputs
subtracted from the unshuffled input (residual), pixel shuffle, crop.

Training uses batch normalisation after the hidden convolutions (as FFDNet does); it is folded
into the convolutions when the weights are saved. Random ``patch`` x ``patch`` crops of the 400
Train400 images with the 8 flips and rotations, sigma uniform in [0, 75]/255 per patch,
unclipped Gaussian noise, mean squared error (optionally weighted per noise level), Adam with a
cosine learning-rate decay, fixed seed. On a GPU (``--device cuda``) the crops and the noise
are drawn there (:class:`DeviceSampler`); ``--max-seconds`` fits the run, schedule included,
into a time budget. torch is only needed here (``pip install torch``); the package runs the
result with its own engine.

Usage (the command that produced the shipped weights is recorded in
``invrestore/nn/weights/README.md`` and in the file's metadata)::

    python scripts/train_denoiser.py --device cuda --batch 128 --max-seconds 330 \
        --balanced --balance-power 0.5 --low-fraction 0.3 --out gray.npz
    python scripts/train_denoiser.py --out gray.npz --iters 3000     # on the CPU
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np


def load_train400(folder):
    import imageio.v3 as iio

    files = sorted(Path(folder).glob("*.png"))
    if not files:
        raise SystemExit(f"no PNG images in {folder}")
    return [iio.imread(f).astype(np.float32) / 255.0 for f in files]


def sample_batch(images, rng, batch, patch, sigma_max, low_fraction=0.0, sigma_low=10 / 255):
    xs = np.empty((batch, 1, patch, patch), np.float32)
    for b in range(batch):
        img = images[rng.integers(len(images))]
        i = rng.integers(img.shape[0] - patch + 1)
        j = rng.integers(img.shape[1] - patch + 1)
        p = img[i:i + patch, j:j + patch]
        k = rng.integers(8)
        p = np.rot90(p, k % 4)
        if k >= 4:
            p = p[:, ::-1]
        xs[b, 0] = p
    sig = rng.uniform(0.0, sigma_max, size=(batch, 1, 1, 1)).astype(np.float32)
    if low_fraction > 0:  # a share of the crops at low noise levels only
        low = rng.random(batch) < low_fraction
        sig[low] = rng.uniform(0.0, sigma_low, size=(int(low.sum()), 1, 1, 1)).astype(np.float32)
    noisy = xs + sig * rng.standard_normal(xs.shape).astype(np.float32)
    return xs, noisy, sig


class DeviceSampler:
    """``sample_batch`` drawn on the torch device: crops, flips and noise never leave it.

    The same distribution as :func:`sample_batch` (uniform image, uniform crop corner, one of
    the 8 flips/rotations, sigma per crop), with torch's generator instead of NumPy's. A batch
    is one gather: each of the 8 transforms is a table of (row, column) offsets in the crop.
    """

    def __init__(self, torch, images, patch, sigma_max, low_fraction, sigma_low, device):
        self.torch, self.dev, self.patch = torch, device, patch
        self.sigma_max, self.low_fraction, self.sigma_low = sigma_max, low_fraction, sigma_low
        hmax = max(im.shape[0] for im in images)
        wmax = max(im.shape[1] for im in images)
        stack = np.zeros((len(images), hmax, wmax), np.float32)
        for n, im in enumerate(images):
            stack[n, :im.shape[0], :im.shape[1]] = im
        self.flat = torch.from_numpy(stack).reshape(-1).to(device)
        self.hw = (hmax, wmax)
        self.free = torch.tensor([[im.shape[0] - patch + 1, im.shape[1] - patch + 1]
                                  for im in images], device=device)
        idx = np.arange(patch * patch).reshape(patch, patch)
        offsets = []
        for k in range(8):  # the transforms of sample_batch, as index tables
            t = np.rot90(idx, k % 4)
            offsets.append(t[:, ::-1] if k >= 4 else t)
        offsets = np.stack(offsets)
        self.offset = torch.from_numpy((offsets // patch) * wmax + offsets % patch).to(device)

    def __call__(self, batch):
        torch, dev = self.torch, self.dev
        hmax, wmax = self.hw
        n = torch.randint(len(self.free), (batch,), device=dev)
        free = self.free[n]
        i = (torch.rand(batch, device=dev) * free[:, 0]).long()
        j = (torch.rand(batch, device=dev) * free[:, 1]).long()
        k = torch.randint(8, (batch,), device=dev)
        corner = n * (hmax * wmax) + i * wmax + j
        xs = self.flat[corner[:, None, None] + self.offset[k]][:, None]
        sig = torch.rand(batch, 1, 1, 1, device=dev) * self.sigma_max
        if self.low_fraction > 0:
            low = torch.rand(batch, 1, 1, 1, device=dev) < self.low_fraction
            sig = torch.where(low, torch.rand_like(sig) * self.sigma_low, sig)
        noisy = xs + sig * torch.randn_like(xs)
        return (xs.contiguous(memory_format=torch.channels_last),
                noisy.contiguous(memory_format=torch.channels_last), sig)


def build(torch, features, n_layers, batch_norm=True):
    nn = torch.nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            chans = [5] + [features] * (n_layers - 1) + [4]
            self.convs = nn.ModuleList(nn.Conv2d(chans[i], chans[i + 1], 3, padding=1)
                                       for i in range(n_layers))
            # batch norm after the hidden convolutions (folded into them on export)
            self.norms = nn.ModuleList(nn.BatchNorm2d(features) if batch_norm else
                                       nn.Identity() for _ in range(n_layers - 2))
            for c in self.convs[:-1]:
                nn.init.kaiming_normal_(c.weight, nonlinearity="relu")
                nn.init.zeros_(c.bias)
            nn.init.normal_(self.convs[-1].weight, std=1e-3)
            nn.init.zeros_(self.convs[-1].bias)

        def forward(self, noisy, sig):
            u = torch.nn.functional.pixel_unshuffle(noisy, 2)
            h = torch.cat([u, sig.expand(-1, 1, u.shape[2], u.shape[3])], 1)
            for i, c in enumerate(self.convs):
                h = c(h)
                if 0 < i < len(self.convs) - 1:
                    h = self.norms[i - 1](h)
                if i < len(self.convs) - 1:
                    h = torch.relu(h)
            return torch.nn.functional.pixel_shuffle(u - h, 2)

        def folded(self):
            """(weight, bias) per convolution with the batch norms folded in (eval mode)."""
            out = []
            for i, c in enumerate(self.convs):
                w, b = c.weight.detach().cpu().double(), c.bias.detach().cpu().double()
                if 0 < i < len(self.convs) - 1 and isinstance(self.norms[i - 1],
                                                              torch.nn.BatchNorm2d):
                    bn = self.norms[i - 1]
                    g = bn.weight.detach().cpu().double() / torch.sqrt(
                        bn.running_var.cpu().double() + bn.eps)
                    w = w * g[:, None, None, None]
                    b = (b - bn.running_mean.cpu().double()) * g + \
                        bn.bias.detach().cpu().double()
                out.append((w.float().numpy(), b.float().numpy()))
            return out

    return Net()


def psnr(a, b):
    return 10 * math.log10(1.0 / float(np.mean((np.clip(a, 0, 1) - b) ** 2)))


def evaluate(torch, net, images, sigma, seed=0, device="cpu"):
    rng = np.random.default_rng(seed)
    out = []
    net.eval()
    with torch.no_grad():
        for img in images:
            h, w = (s - s % 2 for s in img.shape)
            x = img[:h, :w]
            y = x + sigma * rng.standard_normal(x.shape).astype(np.float32)
            t = torch.from_numpy(y)[None, None].to(device)
            s = torch.full((1, 1, 1, 1), sigma, device=device)
            out.append(psnr(net(t, s)[0, 0].cpu().numpy(), x))
    net.train()
    return float(np.mean(out))


def save(net, path, provenance, features, n_layers, sigma_max):
    meta = {"format": "invrestore-denoiser", "version": 1, "arch": "ffdnet",
            "config": {"in_channels": 1, "features": features, "n_layers": n_layers,
                       "residual": True},
            "sigma_range": [0.0, sigma_max], "provenance": provenance}
    arrays = {"meta": np.array(json.dumps(meta))}
    for i, (w, b) in enumerate(net.folded()):
        arrays[f"conv{i}.weight"] = w
        arrays[f"conv{i}.bias"] = b
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    tmp.replace(path)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" /
                                         "data"))
    p.add_argument("--out", required=True)
    p.add_argument("--force", action="store_true", help="replace --out if it exists")
    p.add_argument("--iters", type=int, default=None, help="iterations (default 3000; with "
                   "--max-seconds and no --iters, the time budget alone ends the run)")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--patch", type=int, default=64)
    p.add_argument("--features", type=int, default=64)
    p.add_argument("--layers", type=int, default=12)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu", help="torch device: cpu (default) or cuda")
    p.add_argument("--sampler", choices=["numpy", "device"], default=None, help="where the "
                   "crops and noise are drawn: numpy (the default on the CPU, which the "
                   "shipped stages used) or device (torch's generator on --device, the "
                   "default there: a GPU would otherwise wait for NumPy's noise)")
    p.add_argument("--max-seconds", type=float, default=None, help="time budget: the "
                   "learning-rate schedule follows max(iteration / --iters, elapsed / budget) "
                   "and training stops (and saves) when either reaches 1, so a run on a "
                   "lent GPU always ends with a decayed rate and a written file")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--save-every", type=int, default=250)
    p.add_argument("--warmup", type=int, default=0, help="raise the learning rate linearly "
                   "over this many first iterations (Adam's first steps move every weight by "
                   "about lr whatever its scale, which folded batch-norm weights do not take)")
    p.add_argument("--init", default=None, help="fine-tune from these .npz weights (no batch "
                   "norm: the file's folded convolutions are trained directly)")
    p.add_argument("--low-fraction", type=float, default=0.0, help="share of the crops whose "
                   "sigma is drawn from U[0, --sigma-low] instead of U[0, 75]/255")
    p.add_argument("--sigma-low", type=float, default=10.0, help="upper end (in /255) of the "
                   "low noise levels of --low-fraction")
    p.add_argument("--balanced", action="store_true", help="weight each crop's squared error "
                   "by 1 / (sigma^2 + (1/255)^2), so low noise levels count as much as high")
    p.add_argument("--balance-power", type=float, default=1.0, help="with --balanced, weight "
                   "by (sigma^2 + (1/255)^2)^-power instead: 0.5 weights by about 1/sigma, "
                   "which evens out the errors in dB (a denoiser's output MSE grows roughly "
                   "like sigma), 1 favours low noise levels more")
    args = p.parse_args(argv)
    if not 0.0 <= args.low_fraction <= 1.0:
        p.error(f"--low-fraction must be in [0, 1], got {args.low_fraction}")
    if args.max_seconds is not None and not args.max_seconds > 0:
        p.error(f"--max-seconds must be > 0, got {args.max_seconds}")
    if args.warmup < 0:
        p.error(f"--warmup must be >= 0, got {args.warmup}")
    if args.iters is not None and args.iters < 1:
        p.error(f"--iters must be >= 1, got {args.iters}")
    if args.iters is None and args.max_seconds is None:
        args.iters = 3000
    if not 0.0 <= args.balance_power <= 2.0:
        p.error(f"--balance-power must be in [0, 2], got {args.balance_power}")
    if not 0.0 < args.sigma_low <= 75.0:
        p.error(f"--sigma-low must be in (0, 75], got {args.sigma_low}")
    if Path(args.out).exists() and not args.force:
        p.error(f"{args.out} exists; pass --force to replace it")
    if args.patch < 2 or args.patch % 2:
        p.error(f"--patch must be even and >= 2 (2x2 pixel unshuffle), got {args.patch}")
    for name in ("batch", "features", "threads", "save_every"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.layers < 2:
        p.error(f"--layers must be >= 2, got {args.layers}")
    if not args.lr > 0:
        p.error(f"--lr must be > 0, got {args.lr}")

    import torch

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
    rng = np.random.default_rng(args.seed)
    data = Path(args.data)
    images = load_train400(data / "Train400")
    small = min(min(im.shape[:2]) for im in images)
    if args.patch > small:
        p.error(f"--patch {args.patch} is larger than the smallest training image ({small} px)")
    val = [im for im in load_train400(data / "Set12")][:4]  # monitoring only
    sigma_max = 75.0 / 255.0
    net = build(torch, args.features, args.layers, batch_norm=args.init is None)
    if args.init is not None:
        init = np.load(args.init, allow_pickle=False)
        with torch.no_grad():
            for i, c in enumerate(net.convs):
                c.weight.copy_(torch.from_numpy(init[f"conv{i}.weight"]))
                c.bias.copy_(torch.from_numpy(init[f"conv{i}.bias"]))
    net = net.to(dev, memory_format=torch.channels_last)
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    sampler = args.sampler or ("numpy" if dev.type == "cpu" else "device")
    if sampler == "device":
        draw = DeviceSampler(torch, images, args.patch, sigma_max, args.low_fraction,
                             args.sigma_low / 255, dev)
    t0 = time.time()
    log = []
    it, last = 0, False
    while not last:
        it += 1
        progress = 0.0 if args.iters is None else it / args.iters
        if args.max_seconds:
            progress = max(progress, (time.time() - t0) / args.max_seconds)
        last = progress >= 1.0
        # linear warm-up, then cosine decay to 1% of --lr
        rate = min(1.0, it / max(args.warmup, 1)) * (
            0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))))
        for g in opt.param_groups:
            g["lr"] = args.lr * rate
        if sampler == "device":
            xt, yt, st = draw(args.batch)
        else:
            x, y, s = sample_batch(images, rng, args.batch, args.patch, sigma_max,
                                   args.low_fraction, args.sigma_low / 255)
            xt = torch.from_numpy(x).to(dev, memory_format=torch.channels_last)
            yt = torch.from_numpy(y).to(dev, memory_format=torch.channels_last)
            st = torch.from_numpy(s).to(dev)
        err = (net(yt, st) - xt) ** 2
        if args.balanced:
            w = (st ** 2 + (1.0 / 255) ** 2) ** -args.balance_power
            loss = torch.mean(err * (w / w.mean()))
        else:
            loss = torch.mean(err)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if it % 50 == 0:
            print(f"it {it} loss {loss.item():.3e} {time.time() - t0:.0f}s", flush=True)
        if it % args.save_every == 0 or last:
            v = evaluate(torch, net, val, 25 / 255, device=dev)
            v_low = evaluate(torch, net, val, 2.55 / 255, device=dev)
            log.append({"iter": it, "seconds": round(time.time() - t0), "val_psnr_s25": v,
                        "val_psnr_s2.55": v_low})
            print(f"  it {it}: Set12[:4] PSNR {v:.2f} dB at sigma 25, {v_low:.2f} dB at 2.55",
                  flush=True)
            prov = {"data": "Train400 (400 gray 180x180)", "command":
                    "python scripts/train_denoiser.py " + " ".join(
                        f"--{k.replace('_', '-')}" + ("" if v is True else f" {v}")
                        for k, v in vars(args).items()
                        if k not in ("data", "force") and v is not None and v is not False),
                    "seed": args.seed, "iterations_done": it, "iterations": args.iters,
                    "batch": args.batch, "patch": args.patch, "sigma_train": "U[0, 75]/255" + (
                        f", {args.low_fraction:g} of the crops U[0, {args.sigma_low:g}]/255"
                        if args.low_fraction > 0 else ""),
                    "optimizer": f"Adam lr {args.lr} cosine to 1%" + (
                        f", linear warm-up over {args.warmup}" if args.warmup else ""),
                    "batch_norm": "folded" if args.init is None else "none (fine-tuned)",
                    "threads": args.threads, "device": str(dev), "sampler": sampler,
                    "train_seconds": round(time.time() - t0),
                    "torch": torch.__version__, "log": log}
            save(net, args.out, prov, args.features, args.layers, sigma_max)


if __name__ == "__main__":
    main()
