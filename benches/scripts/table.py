#!/usr/bin/env python3
"""Builds the tables of benches/README.md from criterion's estimates and the reference figures.

Usage (from the workspace root, after `cargo bench -p benches`):
    python3 benches/scripts/table.py [target/criterion] [benches/peers]
Prints Markdown. Every figure is a criterion median; PyTorch/JAX figures are the single-thread
medians of benches/peers/{torch,jax}-results.md (the reference sitting, see benches/peers/README.md).
"""
import json
import os
import sys

CRITERION = sys.argv[1] if len(sys.argv) > 1 else "target/criterion"
PERF = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "peers")
SHAPES = {"S1": (100, 1, 16, 32), "S2": (100, 1, 64, 128), "S3": (50, 32, 128, 256), "S4": (20, 64, 512, 512)}
GATES = {"elman": 1, "lstm": 4, "gru": 3, "custom_lstm": 4}
TORCH_CELL = {"elman": "RNN", "lstm": "LSTM", "gru": "GRU", "custom_lstm": "LSTM"}
DTYPE = {"f32": "float32", "f64": "float64", "dual64": "float64"}


def median_us(group, bench_id):
    path = os.path.join(CRITERION, group, bench_id.replace("/", "_"), "new", "estimates.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)["median"]["point_estimate"] / 1000.0


def rows(path, with_cell):
    out = {}
    with open(path) as f:
        for line in f:
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) < 6 or not cells[-1][:1].isdigit():
                continue
            if with_cell:
                impl, cell, shape, dtype, mode, median = cells[:6]
            else:
                impl, shape, dtype, mode, median = cells[:5]
                cell = "LSTM"
            try:
                out[(impl, cell, shape, dtype, mode)] = float(median.replace(",", ""))
            except ValueError:
                pass
    return out


torch = rows(os.path.join(PERF, "torch-results.md"), True)
jax = rows(os.path.join(PERF, "jax-results.md"), False)


def flops(cell, shape, mode):
    t, b, i, h = SHAPES[shape]
    forward = t * 2 * b * GATES[cell] * h * (i + h)
    return forward * (3 if mode == "fwd_bwd" else 1)


def reference_gemm():
    """PyTorch's (MKL) single-thread GEMM rate at n = 512 on the reference machine, GFLOP/s."""
    out = {}
    with open(os.path.join(PERF, "torch-results.md")) as f:
        for line in f:
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) > 5 and cells[0] == "torch (MKL)" and cells[1] == "512":
                out["f32" if cells[2] == "float32" else "f64"] = float(cells[5])
    return out


torch_gemm = reference_gemm()
gemm = {d: median_us("gemm", f"{d}/512") for d in ("f32", "f64")}
gemm_rate = {d: (2 * 512**3 / (us * 1e3) if us else None) for d, us in gemm.items()}


def fmt(x, digits=0):
    if x is None:
        return "–"
    if digits == 0:
        return f"{x:,.0f}" if x >= 100 else f"{x:.1f}"
    return f"{x:.{digits}f}"


print("| cell | shape | dtype | mode | rnn median µs | GFLOP/s | of GEMM | torch.nn µs | torch / rnn | fastest of torch.nn, JAX µs | fastest / rnn | same-GEMM ratio |")
print("|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for cell in ("elman", "gru", "lstm"):
    for shape in SHAPES:
        for dtype in ("f32", "f64"):
            for mode in ("fwd", "fwd_bwd"):
                us = median_us(cell, f"{mode}_{dtype}/{shape}")
                if us is None:
                    continue
                rate = flops(cell, shape, mode) / (us * 1e3)
                torch_mode = "fwd" if mode == "fwd" else "fwd+bwd"
                t = torch.get(("torch.nn", TORCH_CELL[cell], shape, DTYPE[dtype], torch_mode))
                candidates = [x for x in [t] if x]
                if cell == "lstm":
                    for impl in ("jax scan", "jax scan-hoisted"):
                        j = jax.get((impl, "LSTM", shape, DTYPE[dtype], torch_mode))
                        if j:
                            candidates.append(j)
                best = min(candidates) if candidates else None
                print(
                    f"| {cell} | {shape} | {dtype} | {mode} | {fmt(us)} | {rate:.2f} | "
                    f"{rate / gemm_rate[dtype]:.1%} | {fmt(t)} | {fmt(t / us if t else None, 2)} | "
                    f"{fmt(best)} | {fmt(best / us if best else None, 2)} | "
                    f"{fmt(best / us * torch_gemm[dtype] / gemm_rate[dtype] if best else None, 2)} |"
                )

print()
print("| extra | median µs | GFLOP/s | note |")
print("|---|---:|---:|---|")
for d in ("f32", "f64"):
    us = gemm[d]
    if us:
        print(f"| gemm/{d}/512 | {fmt(us)} | {gemm_rate[d]:.1f} | nalgebra `*` (matrixmultiply), the rate the kernels are read against |")
for d in ("f32", "f64"):
    us = median_us("gemm", f"rnn_{d}/512")
    if us:
        rate = 2 * 512**3 / (us * 1e3)
        print(f"| gemm/rnn_{d}/512 | {fmt(us)} | {rate:.1f} | `rnn_core::gemm` (the time loop's products): {rate / gemm_rate[d]:.0%} of matrixmultiply |")
for dtype in ("f32", "f64"):
    for mode in ("fwd", "fwd_bwd"):
        us = median_us("custom_lstm", f"{mode}_{dtype}/S1")
        built_in = median_us("lstm", f"{mode}_{dtype}/S1")
        if us:
            note = f"built-in `Lstm`: {fmt(built_in)} µs, ratio {us / built_in:.2f}" if built_in else ""
            print(f"| custom_lstm/{mode}_{dtype}/S1 | {fmt(us)} | {flops('custom_lstm', 'S1', mode) / (us * 1e3):.2f} | {note} |")
for mode in ("fwd", "fwd_bwd"):
    us = median_us("lstm", f"{mode}_dual64/S1")
    f64 = median_us("lstm", f"{mode}_f64/S1")
    if us:
        print(f"| lstm/{mode}_dual64/S1 | {fmt(us)} | {flops('lstm', 'S1', mode) / (us * 1e3):.2f} | f64: {fmt(f64)} µs, dual costs {us / f64:.1f}× |")
for impl in ("custom cell, Python loop", "custom cell, jit.script"):
    for shape in ("S1", "S2"):
        for dtype in ("f32", "f64"):
            t = torch.get((impl, "LSTM", shape, DTYPE[dtype], "fwd+bwd"))
            us = median_us("lstm", f"fwd_bwd_{dtype}/{shape}")
            if t and us:
                print(f"| PyTorch {impl}, LSTM {shape} {dtype} fwd+bwd | {fmt(t)} | – | rnn `lstm/fwd_bwd_{dtype}/{shape}` is {t / us:.1f}× faster |")

print()
print("| step product | shape (m × k × n) | dtype | rnn_core::gemm µs | nalgebra µs | nalgebra / rnn |")
print("|---|---|---|---:|---:|---:|")
for op, what in (("nn", "`W h`"), ("tn", "`Wᵀ δ`")):
    for shape in list(SHAPES) + ["512"]:
        for d in ("f32", "f64"):
            ours = median_us("products", f"rnn_{op}_{d}/{shape}")
            theirs = median_us("products", f"nalgebra_{op}_{d}/{shape}")
            if ours and theirs:
                if shape == "512":
                    dims = "512 × 512 × 512"
                else:
                    t, b, i, h = SHAPES[shape]
                    dims = f"{4 * h} × {h} × {b}" if op == "nn" else f"{h} × {4 * h} × {b}"
                print(f"| {what} {shape} | {dims} | {d} | {fmt(ours, 1) if ours < 100 else fmt(ours)} | {fmt(theirs, 1) if theirs < 100 else fmt(theirs)} | {theirs / ours:.2f} |")
