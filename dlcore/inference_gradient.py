"""The backward pass of the fused plan (dlcore.inference.FusedEnsemble): the input gradient
of the members' mean probability, and the float64 attribution, for the block that the
forward pass left in a call's buffers.

Owns: the gradient back through the members' layers (the later layers per member into row
slices, the first layers' stacked weights as one GEMM that sums the members), back through
each input's standardisation and clip, or through a PiecewiseLinear encoding's ramps
(their slope inside a ramp, 0 where clipped); the attribution (gradient x (input -
baseline) in the standardised, clipped input space, or over the encoded [z; ramps(z)]
summed per feature) and each input's baseline in that space. Does not own the plan's
layout, its buffers, the forward pass or the loop over blocks (dlcore.inference).

A mixin of FusedEnsemble, which gives it the plan (`dtype`, `k`, `d`, `D`, `n_in`,
`inputs`, `middle`, `acts`, `w_out`, `clip`, `encoding`, `used`, `_inv_width`, `_rows`);
split from it to keep each file one concern.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from dlcore.errors import ShapeError

if TYPE_CHECKING:
    from dlcore.inference import _Work


class PlanGradient:
    """The gradient methods of FusedEnsemble (module doc)."""

    def _block_gradient(self, s: np.ndarray, w: _Work, zb: list | None = None) -> np.ndarray:
        """(d, BLOCK_ROWS) gradient of the mean probability for the block that
        `_block_forward` left in w; s: the members' probabilities (K, BLOCK_ROWS). With
        `zb` (each input's baseline, (d, 1) float64, see `_baseline_inputs`): the float64
        attribution instead, the gradient with respect to each input's standardised and
        clipped z times (z - its baseline), summed over the inputs."""
        G = w.G[-1]
        g = (s * (1.0 - s)).astype(self.dtype)  # d sigmoid / d logit
        np.multiply(g[:, None, :], self.w_out[:, :, None], out=G.reshape(self.k, -1, G.shape[1]))
        G *= self.acts[-1].derivative(w.H[-1])
        for j in range(len(self.middle), 0, -1):
            for k, W in enumerate(self.middle[j - 1][1]):
                np.matmul(W, w.G[j][self._rows(k, j)], out=w.G[j - 1][self._rows(k, j - 1)])
            w.G[j - 1] *= self.acts[j - 1].derivative(w.H[j - 1])
        if self.encoding is not None:
            return self._encoded_input_gradient(w, zb)
        dX, attr = w.dX, None
        for i, (inp, Zb) in enumerate(zip(self.inputs, w.Zb, strict=True)):
            dZ = np.matmul(inp.W1, w.G[0][inp.rows], out=dX if i == 0 else w.dZ)
            if zb is not None:
                term = dZ.astype(np.float64) * (Zb[: self.d].astype(np.float64) - zb[i])
                attr = term if attr is None else np.add(attr, term, out=attr)
                continue
            if inp.mean is not None:
                dZ /= inp.scale[:, None]
                if self.clip is not None:
                    dZ *= np.abs(Zb[: self.d]) < self.clip
            if i:
                dX += dZ
        return dX if zb is None else attr

    def _encoded_input_gradient(self, w: _Work, zb: list | None = None) -> np.ndarray:
        """The gradient through [z; ramps(z)] and the standardisation (one input: every
        member has the same standardisation): dz + sum over bins of the ramp's gradient
        times its slope, inv_width inside the ramp and 0 where it is clipped."""
        (inp,), (Zb,) = self.inputs, w.Zb
        d = self.d
        dZ = np.matmul(inp.W1, w.G[0], out=w.dZ)
        if zb is not None:  # with respect to the encoded input [z; ramps(z)] (attribution)
            return self._encoded_attribution(dZ, Zb, zb[0])
        dT = self._all_bins(dZ[d:], w.dT)
        T = self._all_bins(Zb[d : self.n_in], w.T)
        inside = (T > 0) & (T < 1)
        dX = np.add(dZ[:d], (dT * inside * self._inv_width).sum(axis=1), out=w.dX)
        dX /= inp.scale[:, None]
        if self.clip is not None:
            dX *= np.abs(Zb[:d]) < self.clip
        return dX

    def _encoded_attribution(self, dZ: np.ndarray, Zb: np.ndarray, zb: np.ndarray) -> np.ndarray:
        """(d, BLOCK_ROWS) float64: each feature's gradient x (input - baseline) over its own
        entries of the encoded input, z and its used bins' ramps, against the baseline's
        (dlcore.attribution: the ramps between the baseline and z count, at a bin edge too)."""
        d, n = self.d, self.n_in
        ramps_b = np.empty((n - d, 1), self.dtype)
        self.used.write(zb.astype(self.dtype), ramps_b)  # the layer's bits, as for a row
        attr = Zb[:d].astype(np.float64)  # in place: two (rows, BLOCK_ROWS) float64 arrays
        attr -= zb
        attr *= dZ[:d]
        ramps = Zb[d:n].astype(np.float64)
        ramps -= ramps_b
        ramps *= dZ[d:n]
        if len(self.used.cols) < self.D - d:  # unused bins: always 0
            every_bin = np.zeros((self.D - d, dZ.shape[1]))
            every_bin[self.used.cols] = ramps
            ramps = every_bin
        attr += ramps.reshape(d, -1, dZ.shape[1]).sum(axis=1)
        return attr

    def _all_bins(self, A: np.ndarray, full: np.ndarray | None) -> np.ndarray:
        """The (d, bins, BLOCK_ROWS) values of every bin from A's used-bin rows: a view
        when every bin is used, else `full` with the used rows written (the rest 0)."""
        if full is not None:
            full[self.used.cols] = A
            A = full
        # copy=False raises rather than copy (NumPy 2.5 deprecates setting `.shape`)
        return np.reshape(A, (self.d, self.encoding.bins, A.shape[1]), copy=False)

    def _baseline_inputs(self, baseline: np.ndarray) -> list[np.ndarray]:
        """Each input's baseline as a (d, 1) float64 column: standardised and clipped by
        the input's Standardize with its own operations (the raw baseline without one)."""
        b = np.asarray(baseline, dtype=np.float64).reshape(-1)
        if b.shape != (self.d,):
            raise ShapeError(f"baseline must have shape ({self.d},). Received {b.shape}")
        out = []
        for inp in self.inputs:
            if inp.mean is None:
                out.append(b[:, None])
                continue
            z = np.subtract(b.astype(self.dtype), inp.mean)
            z /= inp.scale
            if self.clip is not None:
                np.clip(z, -self.clip, self.clip, out=z)
            out.append(z.astype(np.float64)[:, None])
        return out
