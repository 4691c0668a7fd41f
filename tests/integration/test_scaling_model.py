"""bench/scaling_model.py: the fit recovers known terms, `auto` matches the planner, plots.

Synthetic measurement lines are generated FROM a known set of terms with the model's
own formulas; calibrating on the 1 Gbit/s lines must then predict the held-out
200 Mbit/s lines and the larger Spark stages and exchanges with ~zero error, and the
group size / groups per stage the model says `auto` picks must be what
fraud_app.spark.planner.GroupPlanner picks for the same stage cost and iteration time.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))
import scaling_model as sm  # noqa: E402

TRUE = sm.Fit(
    bandwidth={"1gbit": 115e6, "200mbit": 23.5e6}, alpha=2e-3, c_local=1.5e-9, u0=8e-9,
    u1=1.5e-9, k_hier=1.1, c0=0.06, c1=0.004, wave=0.05, d_barrier=0.03, a_tree=0.15, c_tree=2e-8,
    a_block=0.02, c_bm=1e-8, setup=0.04, rendezvous=0.015,
)  # fmt: skip
PARAMS = 4_331_521


def netns_line(rate: str, batch: int) -> dict:
    b, size = TRUE.bandwidth[rate], PARAMS * 4
    mib = 16.0
    pair = sm.ring(2, TRUE.alpha, mib * 2**20, b)
    line = {"benchmark": "netns_cluster", "link_rate": rate, "allreduce_mib": mib,
            "raw_duplex_mb_s_per_direction": b / 1e6,
            "allreduce_busbw_mb_s": mib * 2**20 / pair / 1e6,
            "train_params": PARAMS, "train_batch_per_rank": batch}  # fmt: skip
    for design in ("flat", "hierarchical"):
        t_x = sm.exchange_time(design, 4, size, TRUE, b)
        t_c = TRUE.compute(PARAMS, batch) * (TRUE.k_hier if design == "hierarchical" else 1)
        line[f"allreduce_ms_2x2_{design}"] = t_x * 1e3
        line[f"sync_ms_per_step_{design}"] = t_x * 1e3
        line[f"samples_per_s_{design}_2x2"] = 4 * batch / (t_c + t_x)
    return line


def spark_line() -> dict:
    sizes = [1 << 16, 1 << 20, 1 << 22]
    return {
        "benchmark": "spark_stage_cost",
        "stage_s_by_tasks": {str(k): TRUE.stage(k, slots=2) for k in (1, 2, 4, 8, 16, 32)},
        "barrier_stage_s_by_tasks": {str(k): TRUE.stage(k, True) for k in (1, 2)},
        "tree_aggregate_s_by_floats": {str(v): TRUE.a_tree + TRUE.c_tree * 4 * v for v in sizes},
        "block_exchange_s_by_floats": {
            str(v): 3 * TRUE.stage(2, slots=2) + 2 * TRUE.a_block + TRUE.c_bm * 4 * v for v in sizes
        },
    }


@pytest.fixture
def lines(tmp_path: Path) -> Path:
    rows = [netns_line(r, b) for r in ("1gbit", "200mbit") for b in (2, 16)] + [spark_line()]
    breakdown = {"setup": TRUE.setup * 1e3, "rendezvous": TRUE.rendezvous * 1e3}
    params, batch = sm.SMALL_MLP
    tree = sm.iteration("tree_aggregate", 2, params, batch, TRUE, float("inf"))["t"]
    g1 = TRUE.compute(params, batch) + TRUE.stage(2, barrier=True) + TRUE.setup + TRUE.rendezvous
    rows.append({"benchmark": "spark_overhead", "fraud_warm_stage_start_breakdown_ms": breakdown,
                 "ms_per_iteration": {"per_iteration": tree * 1e3, "grouped_g1": g1 * 1e3}})  # fmt: skip
    path = tmp_path / "runs.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def test_calibration_recovers_the_terms_and_predicts_held_out_lines(lines: Path):
    rows = sm.load_lines([lines])
    net = [r for r in rows if r["benchmark"] == "netns_cluster"]
    fit = sm.calibrate(net, [rows[-2]], "1gbit", trainer=[rows[-1]])
    for name in ("alpha", "c_local", "u0", "u1", "k_hier", "c0", "c1", "wave", "d_barrier",
                 "a_tree", "c_tree", "a_block", "c_bm", "setup", "rendezvous"):  # fmt: skip
        assert getattr(fit, name) == pytest.approx(getattr(TRUE, name), rel=1e-6), name
    held_out = [r for r in net if r["link_rate"] == "200mbit"]
    pairs = [p for r in held_out for p in sm.predict_netns(r, fit).values()]
    pairs += list(sm.predict_spark(rows[-2], fit).values())
    assert len(pairs) == 2 * 5 + 5
    for predicted, measured in pairs:
        assert predicted == pytest.approx(measured, rel=1e-6)


def test_auto_plan_matches_the_trainers_planner():
    from fraud_app.spark.planner import GroupPlanner

    for workers, t_iter in ((2, 0.005), (64, 0.05), (1000, 0.4), (8, 1e-4)):
        planner = GroupPlanner("auto")
        cost = TRUE.stage(workers, True) + TRUE.setup + TRUE.rendezvous
        planner.observe(stage_cost_s=cost, loop_s=t_iter, iterations=1)
        g = planner.next(10**9)
        assert sm.auto_plan(TRUE, workers, t_iter) == (g, planner.groups_per_stage(g))


def test_the_cli_prints_one_json_line_and_writes_one_svg_per_model(lines: Path, tmp_path):
    out = subprocess.run(
        [sys.executable, str(REPO / "bench" / "scaling_model.py"), str(lines),
         "--plots", str(tmp_path / "plots")],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["scaling_model_max_rel_error"] < 1e-3
    for name in sm.MODELS:
        rows = result["projection"][name]["rows"]
        assert [r["workers"] for r in rows] == sm.SIZES
        assert rows[0]["flat"]["efficiency"] == pytest.approx(1.0, abs=0.01)  # 1 worker
        svg = (tmp_path / "plots" / f"scaling_{name}.svg").read_text()
        assert svg.lstrip().startswith("<?xml") and "</svg>" in svg


def test_trainer_runs_are_predicted_as_the_tree_design_and_a_stage_per_iteration():
    params, batch = sm.SMALL_MLP
    tree = sm.iteration("tree_aggregate", 2, params, batch, TRUE, float("inf"))["t"]
    tree_parts = TRUE.a_tree + TRUE.setup + TRUE.compute(params, batch) + 4 * params * TRUE.c_tree
    assert tree == pytest.approx(tree_parts)
    g1 = TRUE.compute(params, batch) + TRUE.stage(2, barrier=True) + TRUE.setup + TRUE.rendezvous
    run = {"ms_per_iteration": {"per_iteration": tree * 1e3, "grouped_g1": g1 * 2e3}}
    predicted = sm.predict_trainer(run, TRUE)
    assert predicted["trainer_per_iteration_s"] == pytest.approx((tree, tree))
    assert predicted["trainer_grouped_g1_s"] == pytest.approx((g1, 2 * g1))
