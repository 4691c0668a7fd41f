"""dlcore vs PyTorch CPU: training throughput, GEMM efficiency and final loss, side by side.

MLP 64 -> 256 -> 128 -> 1 (ReLU), batch 1024, float32, Adam, 1 BLAS thread, BCE
with logits. Both frameworks start from the SAME initial weights and see the
SAME minibatches in the same order, so their validation losses must agree.

Figures (all measured in this run):
  throughput_ratio_vs_torch   dlcore samples/s / torch samples/s (median of rounds)
  val_loss_rel_diff_vs_torch  |val_loss_dlcore - val_loss_torch| / val_loss_torch
  gemm_time_share             share of dlcore's training step time spent inside Ops.gemm
  gemm_efficiency             dlcore achieved GFLOP/s (model FLOPs / step time) / sgemm peak
                              (best of a 1024^3 sgemm on the same backend, same thread count)

Run: .venv/bin/python bench/dlcore_vs_torch.py [--rounds 5] [--steps 200]
Needs torch (`pip install torch==2.13.0`); torch is never a project dependency.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import numpy as np

from dlcore.backends import Ops, get_ops, set_num_threads
from dlcore.layers import Linear, ReLU, Sequential
from dlcore.losses import BCEWithLogits
from dlcore.model import Model
from dlcore.optimizers import Adam
from dlcore.training.trainer import Trainer, TrainerConfig

IN, H1, H2, BATCH, LR = 64, 256, 128, 1024, 1e-3


class TimedOps(Ops):
    """Wraps a backend and accumulates the wall time spent in gemm."""

    def __init__(self, inner: Ops) -> None:
        self.inner = inner
        self.name = f"timed-{inner.name}"
        self.seconds = 0.0

    def gemm(self, a, b, out=None, *, trans_a=False, trans_b=False):
        t0 = time.perf_counter()
        r = self.inner.gemm(a, b, out, trans_a=trans_a, trans_b=trans_b)
        self.seconds += time.perf_counter() - t0
        return r

    def set_num_threads(self, n: int) -> None:
        self.inner.set_num_threads(n)


def make_task(n_train: int, n_val: int, seed: int = 7):
    """Fixed synthetic task: labels from a random teacher MLP plus noise (~10 % positives)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_train + n_val, IN)).astype(np.float32)
    W1 = rng.standard_normal((IN, 32)) / np.sqrt(IN)
    w2 = rng.standard_normal(32)
    logit = np.tanh(X @ W1) @ w2 + 0.5 * rng.standard_normal(len(X))
    y = (logit > np.quantile(logit, 0.9)).astype(np.float32)
    return X[:n_train], y[:n_train], X[n_train:], y[n_train:]


def build_dlcore(ops: Ops) -> Model:
    layer = Sequential(
        [
            Linear(H1, init="lecun_uniform"),
            ReLU(),
            Linear(H2, init="lecun_uniform"),
            ReLU(),
            Linear(1, init="lecun_uniform"),
        ]
    )
    return Model(layer, in_features=IN, seed=0, ops=ops)


def build_torch(model: Model):
    import torch

    net = torch.nn.Sequential(
        torch.nn.Linear(IN, H1),
        torch.nn.ReLU(),
        torch.nn.Linear(H1, H2),
        torch.nn.ReLU(),
        torch.nn.Linear(H2, 1),
    )
    linears = [m for m in net if isinstance(m, torch.nn.Linear)]
    dl_linears = [x for x in model.layer.layers if isinstance(x, Linear)]
    with torch.no_grad():
        for t, d in zip(linears, dl_linears, strict=True):
            t.weight.copy_(torch.from_numpy(d.W.T.copy()))
            t.bias.copy_(torch.from_numpy(d.b.copy()))
    return net


def new_trainer(ops: Ops) -> Trainer:
    return Trainer(
        build_dlcore(ops),
        BCEWithLogits(),
        Adam(learning_rate=LR),
        TrainerConfig(batch_size=BATCH, shuffle=False),
    )


def run_dlcore(X, y, steps: int, ops: Ops):
    new_trainer(ops).train_step(X[:BATCH], y[:BATCH])  # warm-up (allocations, first BLAS call)
    trainer = new_trainer(ops)  # timed run starts from the same initial weights
    if isinstance(ops, TimedOps):
        ops.seconds = 0.0
    t0 = time.perf_counter()
    for s in range(steps):
        i = (s * BATCH) % (len(X) - BATCH + 1)
        trainer.train_step(X[i : i + BATCH], y[i : i + BATCH])
    return time.perf_counter() - t0, trainer


def run_torch(X, y, steps: int, init_model: Model):
    import torch

    torch.manual_seed(0)
    net = build_torch(init_model)
    opt = torch.optim.Adam(net.parameters(), lr=LR)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y).reshape(-1, 1)

    def step(i: int) -> None:
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(net(Xt[i : i + BATCH]), yt[i : i + BATCH])
        loss.backward()
        opt.step()

    step(0)  # warm-up, then restart from the same initial weights
    net = build_torch(init_model)
    opt = torch.optim.Adam(net.parameters(), lr=LR)
    t0 = time.perf_counter()
    for s in range(steps):
        step((s * BATCH) % (len(X) - BATCH + 1))
    return time.perf_counter() - t0, net


def sgemm_peak_gflops(ops: Ops, n: int = 1024, repeats: int = 5) -> float:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    out = np.empty((n, n), dtype=np.float32)
    ops.gemm(a, b, out)
    best = min(_timed(lambda: ops.gemm(a, b, out)) for _ in range(repeats))
    return 2 * n**3 / best / 1e9


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def step_flops(batch: int) -> float:
    """Forward + backward GEMM FLOPs of one step (first layer needs no input gradient)."""
    fwd = 2 * batch * (IN * H1 + H1 * H2 + H2 * 1)
    bwd_w = fwd
    bwd_x = 2 * batch * (H1 * H2 + H2 * 1)
    return float(fwd + bwd_w + bwd_x)


def val_loss_dlcore(trainer: Trainer, Xv, yv) -> float:
    return trainer.evaluate(Xv, yv)["loss"]


def val_loss_torch(net, Xv, yv) -> float:
    import torch

    with torch.no_grad():
        return float(
            torch.nn.BCEWithLogitsLoss()(
                net(torch.from_numpy(Xv)), torch.from_numpy(yv).reshape(-1, 1)
            )
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=200, help="training steps per timed round")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(1)
    set_num_threads(1)
    base_ops = get_ops()
    timed = TimedOps(base_ops)
    X, y, Xv, yv = make_task(n_train=64 * BATCH, n_val=16 * BATCH)

    dl_times, th_times, gemm_shares = [], [], []
    for r in range(args.rounds):
        # Alternate the order so drift on a shared machine hits both sides alike.
        order = ("dl", "th") if r % 2 == 0 else ("th", "dl")
        for who in order:
            if who == "dl":
                secs, trainer = run_dlcore(X, y, args.steps, timed)
                dl_times.append(secs)
                gemm_shares.append(timed.seconds / secs)
            else:
                secs, net = run_torch(X, y, args.steps, build_dlcore(base_ops))
                th_times.append(secs)
    dl_sps = args.steps * BATCH / statistics.median(dl_times)
    th_sps = args.steps * BATCH / statistics.median(th_times)

    # Quality: same init, same batches, 8 epochs each, untimed.
    steps_q = 8 * (len(X) // BATCH)
    _, trainer = run_dlcore(X, y, steps_q, base_ops)
    _, net = run_torch(X, y, steps_q, build_dlcore(base_ops))
    vl_dl, vl_th = val_loss_dlcore(trainer, Xv, yv), val_loss_torch(net, Xv, yv)

    peak = sgemm_peak_gflops(base_ops)
    achieved = step_flops(BATCH) * args.steps / statistics.median(dl_times) / 1e9
    result = {
        "benchmark": "dlcore_vs_torch",
        "backend": base_ops.name,
        "torch_version": torch.__version__,
        "machine": platform.processor() or platform.machine(),
        "threads": 1,
        "batch": BATCH,
        "steps_per_round": args.steps,
        "rounds": args.rounds,
        "dlcore_samples_per_s": round(dl_sps),
        "torch_samples_per_s": round(th_sps),
        "throughput_ratio_vs_torch": round(dl_sps / th_sps, 3),
        "val_loss_dlcore": round(vl_dl, 6),
        "val_loss_torch": round(vl_th, 6),
        "val_loss_rel_diff_vs_torch": round(abs(vl_dl - vl_th) / vl_th, 6),
        "gemm_time_share": round(statistics.median(gemm_shares), 3),
        "sgemm_peak_gflops": round(peak, 1),
        "dlcore_achieved_gflops": round(achieved, 1),
        "gemm_efficiency": round(achieved / peak, 3),
    }
    print(
        f"dlcore {dl_sps:,.0f} samples/s vs torch {th_sps:,.0f} samples/s "
        f"(x{dl_sps / th_sps:.2f}); val loss {vl_dl:.5f} vs {vl_th:.5f}; "
        f"gemm share {result['gemm_time_share']:.0%}; {achieved:.1f} of {peak:.1f} GFLOP/s"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
