"""SVG plots of bench/scaling_model.py's projections (matplotlib, Agg backend; `bench` extra).

One figure per model: throughput and scaling efficiency against the number of workers for
every design, and the group size G and groups per stage K that `auto` picks for the
grouped engine (flat ring). Written as <dir>/scaling_<model>.svg.
"""

from __future__ import annotations

from pathlib import Path

LABELS = {
    "flat": "grouped, flat ring",
    "hierarchical": "grouped, hierarchical",
    "bigdl_blocks": "BigDL-style block manager (job per step)",
    "tree_aggregate": "driver treeAggregate (job per step)",
}


def write_plots(projection: dict, out_dir: Path, rate: str) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matplotlib.rcParams["svg.hashsalt"] = "scaling-model"  # stable ids: reproducible files
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, proj in projection.items():
        rows = proj["rows"]
        workers = [r["workers"] for r in rows]
        fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
        for design, label in LABELS.items():
            axes[0].plot(workers, [r[design]["samples_per_s"] for r in rows], marker="o",
                         ms=3, label=label)  # fmt: skip
            axes[1].plot(workers, [r[design]["efficiency"] for r in rows], marker="o", ms=3)
        axes[0].set(xscale="log", yscale="log", xlabel="workers (2 per host)",
                    ylabel="samples/s", title="throughput")  # fmt: skip
        axes[1].set(xscale="log", xlabel="workers", ylabel="compute / iteration time",
                    title="scaling efficiency", ylim=(0, 1.05))  # fmt: skip
        axes[1].axhline(0.5, color="grey", lw=0.8, ls="--")
        axes[2].plot(workers, [r["flat"]["group_size"] for r in rows], marker="o", ms=3,
                     label="G (iterations per group)")  # fmt: skip
        axes[2].plot(workers, [r["flat"]["groups_per_stage"] for r in rows], marker="s", ms=3,
                     label="K (groups per stage)")  # fmt: skip
        axes[2].set(xscale="log", yscale="log", xlabel="workers",
                    title="auto plan (grouped, flat ring)")  # fmt: skip
        axes[2].legend(fontsize=8)
        axes[0].legend(fontsize=7)
        fig.suptitle(f"{name}: {proj['params']:,} parameters, batch {proj['batch_per_worker']} "
                     f"per worker, {rate} links (model calibrated on this machine)")  # fmt: skip
        fig.tight_layout()
        path = out_dir / f"scaling_{name}.svg"
        fig.savefig(path, format="svg", metadata={"Date": None})
        plt.close(fig)
        written.append(path)
    return written
