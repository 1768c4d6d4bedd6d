#!/usr/bin/env python3
"""Generate or verify the PyTorch float64 reference data in this folder.

    python3 testdata/pytorch/generate.py                 # verify every file (the default)
    python3 testdata/pytorch/generate.py lstm gru        # verify some cases only
    python3 testdata/pytorch/generate.py --write         # rewrite the files (and index.json)
    python3 testdata/pytorch/generate.py --keep-inputs   # inputs from the stored files, not the seeds

Needs torch and numpy (`python3 -m venv .venv && .venv/bin/pip install torch numpy`).

Every file is rebuilt from its recorded `seed`: `torch.manual_seed(seed)`, the torch.nn module
created in float64 with PyTorch's default initialisation, then the inputs, initial states and
loss weights drawn with `torch.randn` in file order (initial states scaled by 0.5). From those it
recomputes, with torch in float64, every output, final state, loss value, gradient, gate
intermediate, long-sequence adjoint and statistic, and the finite-difference check
(README.md beside this script says which value comes from which route).

Verify mode (the default) compares the result with the stored file and exits non-zero on any
difference, printing the key, the tensor index and both values: parameters, inputs, initial
states and loss weights must be bit-identical to the seeded draws (with `--keep-inputs` they are
taken from the stored file instead, for a torch whose random generator has changed); every other
number must agree within `--rtol` (1e-12) relative, |a - b| <= rtol * max(|a|, |b|); strings,
integers, shapes and key order must be equal. The recorded torch/numpy versions are compared
only as a warning. It also fails if a finite-difference check exceeds its tolerance (1e-6).
`--write` writes the recomputed files (and `index.json`) instead, laid out as the vendored ones
(one space per level, number lists on one line, shortest round-trip floats).

The last bits of derived values depend on the BLAS and vector kernels, and the finite-difference
statistics are rounding noise: on another machine or torch version verify may report differences
beyond 1e-12 on those while the data is sound (README.md, "Regenerating and re-checking").

`seed_examples.json` is rebuilt from the seed notes' definitions (the inputs are written out
below); its gradients come from torch autograd and are cross-checked against the chain rule and
the adjoint recurrence done by hand in plain Python.
"""

import argparse
import json
import math
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
F64 = torch.float64

FD_METHOD = "5-point central difference (-f(+2e)+8f(+e)-8f(-e)+f(-2e))/(12e)"
FD_REL = "|ad-fd|/max(|ad|,|fd|,floor)"
FD_FLOOR = 1e-4
FD_TOLERANCE = 1e-6

EQUATIONS = {
    "RNN_TANH": "h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)",
    "RNN_RELU": "h_t = relu(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)",
    "LSTM": "gate rows i,f,g,o; c_t = f*c_{t-1} + i*g; h_t = o*tanh(c_t)",
    "GRU": "gate rows r,z,n; n = tanh(W_in x + b_in + r*(W_hn h + b_hn)); h_t = (1-z)*n + z*h_{t-1}",
}
GATES = {"RNN_TANH": ["a"], "RNN_RELU": ["a"], "LSTM": ["i", "f", "g", "o"], "GRU": ["r", "z", "n"]}
CLASS = {"RNN_TANH": "RNN", "RNN_RELU": "RNN", "LSTM": "LSTM", "GRU": "GRU"}
NONLINEARITY = {"RNN_TANH": "tanh", "RNN_RELU": "relu", "LSTM": None, "GRU": None}

# case, seed, mode, layers, bidirectional, fd eps, description.  T=7, B=3, I=4, H=5.
MODULES = [
    ("rnn_tanh", 1, "RNN_TANH", 1, False, 1e-3, "single-layer torch.nn.RNN(nonlinearity='tanh')"),
    ("rnn_relu", 6, "RNN_RELU", 1, False, 1e-4, "single-layer torch.nn.RNN(nonlinearity='relu')"),
    ("lstm", 3, "LSTM", 1, False, 1e-3, "single-layer torch.nn.LSTM"),
    ("gru", 4, "GRU", 1, False, 1e-3, "single-layer torch.nn.GRU"),
    ("lstm_2layer", 5, "LSTM", 2, False, 1e-3,
     "2-layer stacked torch.nn.LSTM (layer 1 input = layer 0 output)"),
    ("gru_bidir", 6, "GRU", 1, True, 1e-3, "single-layer bidirectional torch.nn.GRU"),
    ("lstm_bidir_2layer", 7, "LSTM", 2, True, 1e-3,
     "2-layer bidirectional torch.nn.LSTM (layer 1 input = concat of layer 0 forward and "
     "reverse outputs, size 2H)"),
]
# case, seed, mode, torch class, description.  B=3, I=4, H=5.
CELLS = [
    ("rnn_tanh_cell", 11, "RNN_TANH", "RNNCell", "one step of torch.nn.RNNCell"),
    ("lstm_cell", 12, "LSTM", "LSTMCell", "one step of torch.nn.LSTMCell"),
    ("gru_cell", 13, "GRU", "GRUCell", "one step of torch.nn.GRUCell"),
]
# case, scale of weight_hh.  T=60, B=1, I=4, H=8, seed 1234.
LONG = [("rnn_tanh_long_T60_scale0p5", 0.5), ("rnn_tanh_long_T60_scale1p5", 1.5)]
LONG_SEED = 1234
LONG_DESCRIPTION = (
    "vanilla tanh RNN, long sequence. weight_hh = scale * Q with Q orthogonal, so all singular "
    "values of weight_hh equal scale. L depends only on the last output: L = sum(output[T-1] * "
    "g_last). dh_adjoint[t] is the total derivative dL/dh_t through the recurrence (h_t = "
    "output[t]); dh_adjoint_norms[t] is its Euclidean norm over (B,H)."
)
IDENTITY_DESCRIPTION = (
    "not torch.nn: the same weight_hh with the tanh removed (h_t = x_t W_ih^T + b_ih + h_{t-1} "
    "W_hh^T + b_hh). Then ||dL/dh_t|| = scale^(T-1-t) * ||g_last|| exactly; listed for t=0..T-1"
)
SEED_FILE = "seed_examples.json"
ALL_CASES = [m[0] for m in MODULES] + [c[0] for c in CELLS] + [c[0] for c in LONG] + ["seed_examples"]


def meta(stored):
    """The `meta` block: this run's versions; the generator's wording kept from the stored file."""
    generator = (stored or {}).get("meta", {}).get("generator", "testdata/pytorch/generate.py")
    return {
        "generator": generator,
        "torch_version": torch.__version__.split("+")[0],
        "numpy_version": np.__version__,
        "dtype": "float64",
        "tensor_encoding": "{shape, data}: data is the row-major (C order) flattening",
    }


def tensor(t):
    t = torch.as_tensor(t).detach()
    return {"shape": list(t.shape), "data": t.reshape(-1).tolist()}


def from_json(v):
    return torch.tensor(v["data"], dtype=F64).reshape(v["shape"])


def fd_check(eps, elements, max_rel_err, **extra):
    d = {
        "method": FD_METHOD,
        "eps": eps,
        "rel_err_definition": FD_REL,
        "floor": FD_FLOOR,
        "elements_checked": elements,
        "max_rel_err": max_rel_err,
        "tolerance": FD_TOLERANCE,
    }
    d.update(extra)
    return d


def five_point(f, eps):
    return (-f[2] + 8 * f[1] - 8 * f[-1] + f[-2]) / (12 * eps)


def fd_over(leaves, grads, loss, eps):
    """5-point central differences of `loss()` over every element of every leaf, in place."""
    count, worst = 0, 0.0
    with torch.no_grad():
        for leaf, grad in zip(leaves, grads):
            flat, g = leaf.view(-1), grad.reshape(-1)
            for k in range(flat.numel()):
                orig, f = flat[k].item(), {}
                for s in (2, 1, -1, -2):
                    flat[k] = orig + s * eps
                    f[s] = loss()
                flat[k] = orig
                fd, ad = five_point(f, eps), g[k].item()
                worst = max(worst, abs(ad - fd) / max(abs(ad), abs(fd), FD_FLOOR))
                count += 1
    return count, worst


def seeded_or_stored(stored, keep, section, key, draw):
    """A seeded draw, or with --keep-inputs the stored tensor (the draw is still made, so that
    the random stream stays in step)."""
    t = draw()
    if keep:
        return from_json(stored[section][key])
    return t


def load_stored_params(module, stored):
    with torch.no_grad():
        for name, p in module.named_parameters():
            p.copy_(from_json(stored["params"][name]))


def gates_step(mode, x, h, c, w_ih, w_hh, b_ih, b_hh, hidden):
    """One step of the equations, written out (not torch.nn): new h, c and the gate values."""
    gi, gh = x @ w_ih.T + b_ih, h @ w_hh.T + b_hh
    if mode == "LSTM":
        i, f, g, o = (gi + gh).split(hidden, dim=1)
        i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
        c = f * c + i * g
        h = o * torch.tanh(c)
        return h, c, {"i": i, "f": f, "g": g, "o": o, "c": c}
    if mode == "GRU":
        s = torch.sigmoid(gi + gh)
        r, z = s[:, :hidden], s[:, hidden : 2 * hidden]
        n = torch.tanh(gi[:, 2 * hidden :] + r * gh[:, 2 * hidden :])
        h = (1 - z) * n + z * h
        return h, None, {"r": r, "z": z, "n": n}
    a = gi + gh
    h = torch.tanh(a) if mode == "RNN_TANH" else torch.relu(a)
    return h, None, {"a": a}


def module_case(spec, stored, keep):
    case, seed, mode, layers, bidir, eps, description = spec
    T, B, I, H = 7, 3, 4, 5
    D = 2 if bidir else 1
    lstm = mode == "LSTM"
    torch.manual_seed(seed)
    kwargs = {"num_layers": layers, "bidirectional": bidir, "dtype": F64}
    if NONLINEARITY[mode]:
        kwargs["nonlinearity"] = NONLINEARITY[mode]
    m = getattr(torch.nn, CLASS[mode])(I, H, **kwargs)
    if keep:
        load_stored_params(m, stored)

    def draw(section, key, shape, scale=1.0):
        return seeded_or_stored(stored, keep, section, key, lambda: scale * torch.randn(*shape, dtype=F64))

    x = draw("inputs", "x", (T, B, I))
    h0 = draw("inputs", "h0", (layers * D, B, H), 0.5)
    c0 = draw("inputs", "c0", (layers * D, B, H), 0.5) if lstm else None
    G = draw("loss", "G", (T, B, D * H))
    Gh = draw("loss", "Gh", (layers * D, B, H))
    Gc = draw("loss", "Gc", (layers * D, B, H)) if lstm else None

    def run():
        if lstm:
            out, (hn, cn) = m(x, (h0, c0))
            return out, hn, cn, (out * G).sum() + (hn * Gh).sum() + (cn * Gc).sum()
        out, hn = m(x, h0)
        return out, hn, None, (out * G).sum() + (hn * Gh).sum()

    names = [n for n, _ in m.named_parameters()]
    leaves = [p for _, p in m.named_parameters()] + [x, h0] + ([c0] if lstm else [])
    for t in leaves:
        t.requires_grad_(True)
    out, hn, cn, loss = run()
    grads = torch.autograd.grad(loss, leaves)

    # The gate values, by the equations written out, layer by layer (each layer reads the
    # previous layer's written-out output), indexed by time t.
    P = {n: p.detach() for n, p in m.named_parameters()}
    intermediates = {}
    with torch.no_grad():
        inp = x.detach()
        for k in range(layers):
            outs = []
            for d in range(D):
                sfx = f"_l{k}" + ("_reverse" if d else "")
                w = [P[f"{n}{sfx}"] for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
                h, c = h0.detach()[k * D + d], c0.detach()[k * D + d] if lstm else None
                hs, rec = [None] * T, {}
                for t in range(T - 1, -1, -1) if d else range(T):
                    h, c, vals = gates_step(mode, inp[t], h, c, *w, H)
                    hs[t] = h
                    for g, v in vals.items():
                        rec.setdefault(g, [None] * T)[t] = v
                for g, v in rec.items():
                    intermediates[f"{g}{sfx}"] = torch.stack(v)
                outs.append(torch.stack(hs))
            inp = torch.cat(outs, dim=2)
        # order: per layer, per direction, the gates in file order
        order = []
        for k in range(layers):
            for d in range(D):
                sfx = f"_l{k}" + ("_reverse" if d else "")
                order += [f"{g}{sfx}" for g in GATES[mode] + (["c"] if lstm else [])]
        intermediates = {key: tensor(intermediates[key]) for key in order}

    count, worst = fd_over(leaves, grads, lambda: run()[3].item(), eps)
    extra = {}
    if mode == "RNN_RELU":
        extra["min_abs_preactivation"] = min(abs(v) for v in intermediates["a_l0"]["data"])

    module = {
        "class": f"torch.nn.{CLASS[mode]}",
        "mode": mode,
        "nonlinearity": NONLINEARITY[mode],
        "input_size": I,
        "hidden_size": H,
        "num_layers": layers,
        "bias": True,
        "batch_first": False,
        "bidirectional": bidir,
        "gates": len(GATES[mode]),
        "gate_order": GATES[mode],
        "equations": EQUATIONS[mode],
    }
    definition = "L = sum(output*G) + sum(h_n*Gh)" + (" + sum(c_n*Gc)" if lstm else "")
    loss_block = {"definition": definition, "G": tensor(G), "Gh": tensor(Gh)}
    if lstm:
        loss_block["Gc"] = tensor(Gc)
    loss_block["value"] = loss.item()
    inputs = {"x": tensor(x), "h0": tensor(h0)}
    outputs = {"output": tensor(out), "h_n": tensor(hn)}
    grad_names = names + ["x", "h0"] + (["c0"] if lstm else [])
    if lstm:
        inputs["c0"] = tensor(c0)
        outputs["c_n"] = tensor(cn)
    data = {
        "case": case,
        "description": description,
        "meta": meta(stored),
        "module": module,
        "dims": {"T": T, "B": B, "I": I, "H": H, "num_layers": layers, "num_directions": D},
        "seed": seed,
        "params": {n: tensor(P[n]) for n in names},
        "inputs": inputs,
        "outputs": outputs,
        "loss": loss_block,
        "grads": {n: tensor(g) for n, g in zip(grad_names, grads)},
        "intermediates": intermediates,
        "fd_check": fd_check(eps, count, worst, **extra),
    }
    return data, [(case, count, worst)]


def cell_case(spec, stored, keep):
    case, seed, mode, cls, description = spec
    B, I, H = 3, 4, 5
    eps = 1e-3
    lstm = mode == "LSTM"
    torch.manual_seed(seed)
    m = getattr(torch.nn, cls)(I, H, dtype=F64)
    if keep:
        load_stored_params(m, stored)

    def draw(section, key, shape, scale=1.0):
        return seeded_or_stored(stored, keep, section, key, lambda: scale * torch.randn(*shape, dtype=F64))

    x = draw("inputs", "x", (B, I))
    h = draw("inputs", "h", (B, H), 0.5)
    c = draw("inputs", "c", (B, H), 0.5) if lstm else None
    Gh = draw("loss", "Gh", (B, H))
    Gc = draw("loss", "Gc", (B, H)) if lstm else None

    def run():
        if lstm:
            hn, cn = m(x, (h, c))
            return hn, cn, (hn * Gh).sum() + (cn * Gc).sum()
        hn = m(x, h)
        return hn, None, (hn * Gh).sum()

    names = [n for n, _ in m.named_parameters()]
    leaves = [p for _, p in m.named_parameters()] + [x, h] + ([c] if lstm else [])
    for t in leaves:
        t.requires_grad_(True)
    hn, cn, loss = run()
    grads = torch.autograd.grad(loss, leaves)
    P = {n: p.detach() for n, p in m.named_parameters()}
    with torch.no_grad():
        _, _, vals = gates_step(
            mode, x.detach(), h.detach(), c.detach() if lstm else None,
            P["weight_ih"], P["weight_hh"], P["bias_ih"], P["bias_hh"], H,
        )
    count, worst = fd_over(leaves, grads, lambda: run()[2].item(), eps)

    inputs = {"x": tensor(x), "h": tensor(h)}
    outputs = {"h_next": tensor(hn)}
    loss_block = {"definition": "L = sum(h_next*Gh)" + (" + sum(c_next*Gc)" if lstm else ""), "Gh": tensor(Gh)}
    if lstm:
        inputs["c"] = tensor(c)
        outputs["c_next"] = tensor(cn)
        loss_block["Gc"] = tensor(Gc)
    loss_block["value"] = loss.item()
    grad_names = names + ["x", "h"] + (["c"] if lstm else [])
    data = {
        "case": case,
        "description": description,
        "meta": meta(stored),
        "module": {
            "class": f"torch.nn.{cls}",
            "mode": mode,
            "input_size": I,
            "hidden_size": H,
            "bias": True,
            "gates": len(GATES[mode]),
            "equations": EQUATIONS[mode],
        },
        "dims": {"B": B, "I": I, "H": H},
        "seed": seed,
        "params": {n: tensor(P[n]) for n in names},
        "inputs": inputs,
        "outputs": outputs,
        "loss": loss_block,
        "grads": {n: tensor(g) for n, g in zip(grad_names, grads)},
        "intermediates": {k: tensor(v) for k, v in vals.items()},
        "fd_check": fd_check(eps, count, worst),
    }
    return data, [(case, count, worst)]


def long_case(spec, stored, keep):
    """The long sequences. `output` and `h_n` come from torch.nn.RNN; the loss value, every
    gradient and the adjoints dL/dh_t come from autograd through the same recurrence written
    out step by step in torch (`x_t W_ih^T + b_ih + h W_hh^T + b_hh`, that order), which is how
    the adjoints of the intermediate states are reached. The two differ by rounding only (the
    written-out states within 1e-11 relative of torch.nn's, its gradients within 6e-13)."""
    case, scale = spec
    T, B, I, H = 60, 1, 4, 8
    eps = 1e-4
    torch.manual_seed(LONG_SEED)
    m = torch.nn.RNN(I, H, dtype=F64)
    q = torch.empty(H, H, dtype=F64)
    torch.nn.init.orthogonal_(q)
    with torch.no_grad():
        m.weight_hh_l0.copy_(scale * q)
    if keep:
        load_stored_params(m, stored)
    x = seeded_or_stored(stored, keep, "inputs", "x", lambda: torch.randn(T, B, I, dtype=F64))
    h0 = torch.zeros(1, B, H, dtype=F64)
    if keep:
        h0 = from_json(stored["inputs"]["h0"])
    g_last = seeded_or_stored(stored, keep, "loss", "g_last", lambda: torch.randn(B, H, dtype=F64))

    with torch.no_grad():
        out, hn = m(x, h0)

    # Autograd through the written-out recurrence, every h_t kept.
    names = [n for n, _ in m.named_parameters()]
    w = [p.detach().clone().requires_grad_(True) for _, p in m.named_parameters()]
    w_ih, w_hh, b_ih, b_hh = w
    xs, hs0 = x.clone().requires_grad_(True), h0.clone().requires_grad_(True)
    h, hs = hs0[0], []
    for t in range(T):
        h = torch.tanh(xs[t] @ w_ih.T + b_ih + h @ w_hh.T + b_hh)
        h.retain_grad()
        hs.append(h)
    loss = (hs[-1] * g_last).sum()
    loss.backward()
    grads = [p.grad for p in w] + [xs.grad, hs0.grad]
    adjoint = torch.stack([hh.grad for hh in hs])  # (T, B, H)
    norms = torch.linalg.vector_norm(adjoint, dim=(1, 2))

    with torch.no_grad():
        traj = torch.stack([hh.detach() for hh in hs])
        whd = w_hh.detach()
        # A separate BPTT recurrence: d_{t-1} = (d_t * (1 - h_t^2)) W_hh.
        hand = [None] * T
        hand[T - 1] = g_last.clone()
        for t in range(T - 1, 0, -1):
            hand[t - 1] = (hand[t] * (1 - traj[t] ** 2)) @ whd
        hand_err = max(
            ((adjoint[t] - hand[t]).abs().max() / adjoint[t].abs().max()).item() for t in range(T)
        )
        # Identity activation: d_{t-1} = d_t W_hh.
        ident = [None] * T
        ident[T - 1] = g_last.clone()
        for t in range(T - 1, 0, -1):
            ident[t - 1] = ident[t] @ whd
        ident_norms = [torch.linalg.vector_norm(v).item() for v in ident]

    # Finite differences: the parameters, x and h0 through torch.nn.RNN ...
    leaves = [p for _, p in m.named_parameters()] + [x, h0]
    count, worst = fd_over(leaves, grads, lambda: (m(x, h0)[0][-1] * g_last).sum().item(), eps)
    # ... and each h_t: L as a function of h_t, the rest of the written-out recurrence.
    hidden_worst = 0.0
    with torch.no_grad():
        w_ih, w_hh, b_ih, b_hh = (p.detach() for p in w)
        for t in range(T):
            for b in range(B):
                for j in range(H):
                    f = {}
                    for s in (2, 1, -1, -2):
                        hp = traj[t].clone()
                        hp[b, j] = traj[t][b, j].item() + s * eps
                        for u in range(t + 1, T):
                            hp = torch.tanh(x[u] @ w_ih.T + b_ih + hp @ w_hh.T + b_hh)
                        f[s] = (hp * g_last).sum().item()
                    fd, ad = five_point(f, eps), adjoint[t, b, j].item()
                    hidden_worst = max(hidden_worst, abs(ad - fd) / max(abs(ad), abs(fd), FD_FLOOR))
                    count += 1

    data = {
        "case": case,
        "description": LONG_DESCRIPTION,
        "meta": meta(stored),
        "module": {
            "class": "torch.nn.RNN",
            "mode": "RNN_TANH",
            "nonlinearity": "tanh",
            "input_size": I,
            "hidden_size": H,
            "num_layers": 1,
            "bias": True,
            "batch_first": False,
            "bidirectional": False,
            "gates": 1,
            "equations": EQUATIONS["RNN_TANH"],
        },
        "dims": {"T": T, "B": B, "I": I, "H": H, "num_layers": 1, "num_directions": 1},
        "seed": LONG_SEED,
        "weight_hh_scale": scale,
        "weight_hh_singular_values": torch.linalg.svdvals(m.weight_hh_l0.detach()).tolist(),
        "params": {n: tensor(p) for n, p in m.named_parameters()},
        "inputs": {"x": tensor(x), "h0": tensor(h0)},
        "outputs": {"output": tensor(out), "h_n": tensor(hn)},
        "loss": {"definition": "L = sum(output[T-1] * g_last)", "g_last": tensor(g_last), "value": loss.item()},
        "grads": {n: tensor(g) for n, g in zip(names + ["x", "h0"], grads)},
        "dh_adjoint": tensor(adjoint),
        "dh_adjoint_norms": norms.tolist(),
        "dh_adjoint_norm_ratio_first_over_last": (norms[0] / norms[-1]).item(),
        "hand_bptt_max_rel_err_per_step": hand_err,
        "identity_activation_reference": {"description": IDENTITY_DESCRIPTION, "dh_adjoint_norms": ident_norms},
        "fd_check": fd_check(eps, count, worst, hidden_adjoint_max_rel_err=hidden_worst),
    }
    return data, [(case, count, max(worst, hidden_worst))]


def fd_scalar(f, args, grads, eps):
    """5-point differences of a scalar function of scalars, every argument in turn."""
    worst = 0.0
    for k, ad in enumerate(grads):
        vals = {}
        for s in (2, 1, -1, -2):
            a = list(args)
            a[k] = args[k] + s * eps
            vals[s] = f(*a)
        fd = five_point(vals, eps)
        worst = max(worst, abs(ad - fd) / max(abs(ad), abs(fd), FD_FLOOR))
    return len(grads), worst


def round_half_away(v):
    return math.floor(v + 0.5) if v >= 0 else -math.floor(-v + 0.5)


def seed_examples(stored, keep):
    """The worked examples of the seed notes. The inputs are the notes' own numbers."""
    eps = 1e-3
    summary = []

    # a) concatenation
    w_hh, w_hx = np.ones((3, 2)), np.full((3, 3), 9.0)
    h_prev, x = np.ones((2, 1)), np.full((3, 1), 9.0)
    w, hx = np.hstack([w_hh, w_hx]), np.vstack([h_prev, x])
    a = {
        "description": "hstack(W_hh, W_hx) @ vstack(h_prev, x) == W_hh@h_prev + W_hx@x",
        "W_hh": tensor(torch.from_numpy(w_hh)),
        "W_hx": tensor(torch.from_numpy(w_hx)),
        "h_prev": tensor(torch.from_numpy(h_prev)),
        "x": tensor(torch.from_numpy(x)),
        "hstack_W": tensor(torch.from_numpy(w)),
        "vstack_hx": tensor(torch.from_numpy(hx)),
        "result": tensor(torch.from_numpy(w @ hx)),
        "expected": (w_hh @ h_prev + w_hx @ x).reshape(-1).tolist(),
    }

    # b) a tiny network: torch autograd, cross-checked by the chain rule in plain Python
    y, xv, w1, w2, bv = 1.0, 3.0, 0.01, -5.0, -1.0
    t = [torch.tensor(v, dtype=F64, requires_grad=True) for v in (w1, w2, bv, xv)]
    z1 = t[0] * t[3]
    a1 = torch.relu(z1)
    z2 = t[1] * a1 + t[2]
    a2 = torch.sigmoid(z2)
    loss = 0.5 * (y - a2) ** 2
    loss.backward()
    g = [v.grad.item() for v in t]

    def tiny(w1, w2, b, x):
        z1 = w1 * x
        a2 = 1 / (1 + math.exp(-(w2 * max(z1, 0.0) + b)))
        return 0.5 * (y - a2) ** 2

    pz1, pa1 = w1 * xv, max(w1 * xv, 0.0)
    pa2 = 1 / (1 + math.exp(-(w2 * pa1 + bv)))
    dz2 = (pa2 - y) * pa2 * (1 - pa2)
    dz1 = dz2 * w2 * (1.0 if pz1 > 0 else 0.0)
    by_hand = [dz1 * xv, dz2 * pa1, dz2, dz1 * w1]
    for k, (ag, hg) in enumerate(zip(g, by_hand)):
        if abs(ag - hg) > 1e-12 * max(abs(ag), abs(hg)):
            raise SystemExit(f"b_tiny_network: autograd {ag!r} and the chain rule {hg!r} disagree (#{k})")
    count, worst = fd_scalar(tiny, [w1, w2, bv, xv], g, eps)
    summary.append(("tiny_network", count, worst))
    b = {
        "description": "y=1, x=3, w1=0.01, w2=-5, b=-1; z1=w1*x; a1=relu(z1); z2=w2*a1+b; "
        "a2=sigmoid(z2); loss=0.5*(y-a2)^2",
        "inputs": {"y": y, "x": xv, "w1": w1, "w2": w2, "b": bv},
        "forward": {"z1": z1.item(), "a1": a1.item(), "z2": z2.item(), "a2": a2.item(), "loss": loss.item()},
        "grads": {"dL/dw1": g[0], "dL/dw2": g[1], "dL/db": g[2], "dL/dx": g[3]},
        "rounded_3dp_in_seed_document": {
            "loss": round(loss.item(), 3),
            "dL/dw2": round(g[1], 3),
            "dL/db": round(g[2], 3),
            "dL/dw1": round(g[0], 3),
        },
        "fd_check": fd_check(eps, count, worst),
    }

    # c) a feed-forward network and a softmax
    xb = torch.tensor([3.0, 14.0, 1.0], dtype=F64)
    W = torch.tensor([[1, 0, -1], [0, 1, -1], [-1, 0, -1], [0, -1, -1]], dtype=F64)
    V = torch.tensor([[1, 1, 1, 1, 0], [-1, -1, -1, -1, 2]], dtype=F64)
    cz1 = W @ xb
    ca1 = torch.relu(cz1)
    ca1b = torch.cat([ca1, torch.ones(1, dtype=F64)])
    cz2 = V @ ca1b
    ca2 = torch.relu(cz2)
    p = torch.softmax(ca2, dim=0)
    c = {
        "description": "x=[3,14] with bias 1 appended; a1=relu(W x); append 1; a2=relu(V a1); p=softmax(a2)",
        "x_with_bias": tensor(xb),
        "W": tensor(W),
        "V": tensor(V),
        "z1": tensor(cz1),
        "a1": tensor(ca1),
        "a1_with_bias": tensor(ca1b),
        "z2": tensor(cz2),
        "a2": tensor(ca2),
        "softmax": tensor(p),
        "expected_in_seed_document": [0.9999996941, 3.059022269e-07],  # as the notes print it
    }
    for got, printed in zip(p.tolist(), c["expected_in_seed_document"]):
        if float(f"{got:.10g}") != printed:
            raise SystemExit(f"c_feedforward_softmax: {got!r} does not round to the notes' {printed!r}")

    # d) the hard-gated scalar LSTM
    wts = {
        "w_fh": 0.0, "w_ih": 0.0, "w_oh": 0.0, "w_ch": -100.0,
        "w_fx": 0.0, "w_ix": 100.0, "w_ox": 100.0, "w_cx": 50.0,
        "b_f": -100.0, "b_i": 100.0, "b_o": 0.0, "b_c": 0.0,
    }
    xs_d = [
        [0, 0, 1, 1, 1, 0],
        [1, 1, 0, 1, 1],
        [1, 0, 1, 1, 1],
        [1, 1, 0, 1, 1, 0, 1, 1, 1],
        [1, 0, 0, 1, 1, 0, 1, 1, 1],
        [0, 0, 0, 0, 0, 1, 1, 1, 1, 1],
    ]

    def hard_lstm(xs, rnd):
        def sig(v):
            return rnd(1 / (1 + math.exp(-v)))

        h = c_ = 0
        hs = []
        for xt in xs:
            f = sig(wts["w_fh"] * h + wts["w_fx"] * xt + wts["b_f"])
            i = sig(wts["w_ih"] * h + wts["w_ix"] * xt + wts["b_i"])
            o = sig(wts["w_oh"] * h + wts["w_ox"] * xt + wts["b_o"])
            c_ = f * c_ + i * rnd(math.tanh(wts["w_ch"] * h + wts["w_cx"] * xt + wts["b_c"]))
            h = o * rnd(math.tanh(c_))
            hs.append(float(h))
        return hs

    sequences = [{"x": [float(v) for v in xs], "h": hard_lstm(xs, round)} for xs in xs_d]
    mismatch = []
    for xs, seq in zip(xs_d, sequences):
        away = hard_lstm(xs, round_half_away)
        if away != seq["h"]:
            mismatch.append({"x": list(xs), "h_with_round_half_away_from_zero": away})
    d = {
        "description": "scalar LSTM with hard gates. sigma(a) := round(1/(1+exp(-a))); f = sigma(w_fh*h + "
        "w_fx*x + b_f); i = sigma(w_ih*h + w_ix*x + b_i); o = sigma(w_oh*h + w_ox*x + b_o); c_t = "
        "f*c_{t-1} + i*round(tanh(w_ch*h + w_cx*x + b_c)); h_t = o*round(tanh(c_t)); h_0 = c_0 = 0",
        "rounding": "round = round-half-to-even (Python round / numpy.round; Rust f64::round_ties_even). "
        "The o gate sees sigma(0) = 0.5 whenever x = 0, and the expected outputs need round(0.5) = 0. "
        "Round-half-away-from-zero (Rust f64::round) gives the wrong sequences listed in "
        "mismatch_with_round_half_away_from_zero.",
        "weights": wts,
        "sequences": sequences,
        "mismatch_with_round_half_away_from_zero": mismatch,
    }

    # e) linear recurrences, L = sum(h_t g_t); gradients by autograd
    xe = [1.0, 2.0, 3.0, -1.0, 0.5, 4.0, -2.0, 0.0]
    ge = [0.5, -1.0, 2.0, 1.5, -0.25, 1.0, 0.75, -2.0]

    def weighted(hs):
        """L = sum(h_t g_t), summed by torch as one vector (of tensors, or of floats)."""
        if isinstance(hs[0], torch.Tensor):
            return (torch.stack(hs) * torch.tensor(ge, dtype=F64)).sum()
        return (torch.tensor(hs, dtype=F64) * torch.tensor(ge, dtype=F64)).sum().item()

    def running_sum(h0, *x):
        return weighted(trajectory(lambda h, xt: h + xt, h0, x))

    def ema(a, h0, *x):
        return weighted(trajectory(lambda h, xt: a * h + (1 - a) * xt, h0, x))

    def trajectory(step, h0, x):
        hs, h = [], h0
        for xt in x:
            h = step(h, xt)
            hs.append(h)
        return hs

    def autograd(f, args):
        ts = [torch.tensor(v, dtype=F64, requires_grad=True) for v in args]
        loss = f(*ts)
        loss.backward()
        return loss.item(), [v.grad.item() for v in ts]

    def by_hand(a, scale_x, hs):
        """The adjoint recurrence l_t = g_t + a l_{t+1}, in plain Python: dL/dx_t, dL/dh0, dL/da."""
        lam, acc = [0.0] * len(xe), 0.0
        for t in range(len(xe) - 1, -1, -1):
            acc = ge[t] + a * acc
            lam[t] = acc
        prev = [0.0] + hs[:-1]
        return [scale_x * v for v in lam], a * lam[0], sum(lt * (p - x) for lt, p, x in zip(lam, prev, xe))

    def cross_check(what, autograd_values, hand_values):
        for k, (ag, hg) in enumerate(zip(autograd_values, hand_values)):
            if abs(ag - hg) > 1e-12 * max(abs(ag), abs(hg)):
                raise SystemExit(f"{what}: autograd {ag!r} and the recurrence by hand {hg!r} disagree (#{k})")

    rs_loss, rs_g = autograd(running_sum, [0.0] + xe)
    dx, dh0, _ = by_hand(1.0, 1.0, trajectory(lambda h, xt: h + xt, 0.0, xe))
    cross_check("running_sum", rs_g, [dh0] + dx)
    count, worst = fd_scalar(running_sum, [0.0] + xe, rs_g, eps)
    summary.append(("running_sum", count, worst))
    rs = {
        "description": "h_t = h_{t-1} + x_t, h_0 = 0 (h listed for t = 1..T); L = sum(h_t * g_t)",
        "x": xe,
        "h0": 0.0,
        "h": trajectory(lambda h, xt: h + xt, 0.0, xe),
        "g": ge,
        "loss": rs_loss,
        "grads": {"x": rs_g[1:], "h0": rs_g[0]},
        "fd_check": fd_check(eps, count, worst),
    }
    av = 0.3
    ea_loss, ea_g = autograd(ema, [av, 0.0] + xe)
    dx, dh0, da = by_hand(av, 1 - av, trajectory(lambda h, xt: av * h + (1 - av) * xt, 0.0, xe))
    cross_check("exponential_average", ea_g, [da, dh0] + dx)
    count, worst = fd_scalar(ema, [av, 0.0] + xe, ea_g, eps)
    summary.append(("ema", count, worst))
    ea = {
        "description": "h_t = a*h_{t-1} + (1-a)*x_t, a = 0.3, h_0 = 0, evaluated in float64 in exactly "
        "this operation order; L = sum(h_t * g_t)",
        "a": av,
        "x": xe,
        "h0": 0.0,
        "h": trajectory(lambda h, xt: av * h + (1 - av) * xt, 0.0, xe),
        "g": ge,
        "loss": ea_loss,
        "grads": {"x": ea_g[2:], "h0": ea_g[1], "a": ea_g[0]},
        "fd_check": fd_check(eps, count, worst),
    }
    data = {
        "meta": meta(stored),
        "a_concatenation": a,
        "b_tiny_network": b,
        "c_feedforward_softmax": c,
        "d_hard_lstm": d,
        "e_linear_recurrences": {"running_sum": rs, "exponential_average": ea},
    }
    return data, summary


def index(stored, summaries):
    fd_summary = []
    for file, entries in summaries:
        for case, count, worst in entries:
            fd_summary.append({"file": file, "case": case, "elements_checked": count, "max_rel_err": worst})
    return {
        "meta": meta(stored),
        "files": sorted(f for f, _ in summaries),
        "fd_summary": fd_summary,
    }


def dump(v, indent=0):
    """JSON as the files are laid out: one space per level, lists of numbers on one line."""
    pad = " " * (indent + 1)
    if isinstance(v, dict):
        if not v:
            return "{}"
        items = [pad + json.dumps(k) + ": " + dump(x, indent + 1) for k, x in v.items()]
        return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"
    if isinstance(v, list):
        if all(not isinstance(x, (dict, list)) for x in v):
            return "[" + ",".join(json.dumps(x) for x in v) + "]"
        items = [pad + dump(x, indent + 1) for x in v]
        return "[\n" + ",\n".join(items) + "\n" + " " * indent + "]"
    return json.dumps(v)


class Comparison:
    """Stored against recomputed, key by key."""

    EXACT_SECTIONS = ("params", "inputs")
    EXACT_LOSS_KEYS = ("G", "Gh", "Gc", "g_last")

    def __init__(self, rtol):
        self.rtol = rtol
        self.errors, self.warnings = [], []
        self.numbers = self.identical = 0
        self.worst = (0.0, None)

    def exact(self, path):
        return path[0] in self.EXACT_SECTIONS or (
            len(path) > 1 and path[0] == "loss" and path[1] in self.EXACT_LOSS_KEYS
        )

    def fail(self, path, msg):
        self.errors.append(f"{'.'.join(map(str, path))}: {msg}")

    def walk(self, path, s, f):
        if path == ("meta",):
            for k in ("torch_version", "numpy_version"):
                if s.get(k) != f.get(k):
                    self.warnings.append(f"meta.{k}: stored {s.get(k)}, this run {f.get(k)}")
            for k in ("dtype", "tensor_encoding"):
                if s.get(k) != f.get(k):
                    self.fail(path + (k,), f"stored {s.get(k)!r}, recomputed {f.get(k)!r}")
            return
        if isinstance(s, dict) and isinstance(f, dict):
            if list(s) != list(f):
                self.fail(path, f"keys differ: stored {list(s)}, recomputed {list(f)}")
            if set(s) == {"shape", "data"} and set(f) == {"shape", "data"}:
                if s["shape"] != f["shape"]:
                    self.fail(path, f"shape: stored {s['shape']}, recomputed {f['shape']}")
                    return
                for k, (a, b) in enumerate(zip(s["data"], f["data"])):
                    idx = tuple(int(i) for i in np.unravel_index(k, s["shape"])) if s["shape"] else ()
                    self.number(path, idx, a, b)
                return
            for k in s:
                if k in f:
                    self.walk(path + (k,), s[k], f[k])
            return
        if isinstance(s, list) and isinstance(f, list):
            if len(s) != len(f):
                self.fail(path, f"length: stored {len(s)}, recomputed {len(f)}")
                return
            if s and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in s + f):
                for k, (a, b) in enumerate(zip(s, f)):
                    self.number(path, (k,), a, b)
                return
            for k, (a, b) in enumerate(zip(s, f)):
                self.walk(path + (k,), a, b)
            return
        if isinstance(s, float) or isinstance(f, float):
            if isinstance(s, (int, float)) and isinstance(f, (int, float)) and type(s) is type(f):
                self.number(path, (), s, f)
                return
        if type(s) is not type(f) or s != f:
            self.fail(path, f"stored {s!r}, recomputed {f!r}")

    def number(self, path, idx, a, b):
        where = ".".join(map(str, path)) + (str(list(idx)) if idx else "")
        if type(a) is not type(b):
            self.errors.append(f"{where}: stored {a!r}, recomputed {b!r} (types differ)")
            return
        if isinstance(a, int):
            if a != b:
                self.errors.append(f"{where}: stored {a}, recomputed {b}")
            return
        self.numbers += 1
        if a == b and math.copysign(1, a) == math.copysign(1, b):
            self.identical += 1
            return
        if self.exact(path):
            self.errors.append(f"{where}: stored {a!r}, recomputed {b!r} (an input: must be bit-identical)")
            return
        diff = abs(a - b)
        rel = diff / max(abs(a), abs(b)) if diff else 0.0
        if rel > self.worst[0]:
            self.worst = (rel, f"{where}: stored {a!r}, recomputed {b!r}")
        if rel > self.rtol:
            self.errors.append(
                f"{where}: stored {a!r}, recomputed {b!r}, |diff| {diff:.3e}, relative {rel:.3e} > {self.rtol:g}"
            )


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("cases", nargs="*", help=f"cases to do (default: all): {', '.join(ALL_CASES)}")
    ap.add_argument("--write", action="store_true", help="write the recomputed files instead of verifying")
    ap.add_argument("--keep-inputs", action="store_true",
                    help="take parameters, inputs and loss weights from the stored files, not the seeds")
    ap.add_argument("--rtol", type=float, default=1e-12, help="relative tolerance of verify mode (1e-12)")
    ap.add_argument("--dir", default=HERE, help="folder of the JSON files (this script's folder)")
    args = ap.parse_args()
    unknown = [c for c in args.cases if c not in ALL_CASES]
    if unknown:
        ap.error(f"unknown case(s) {unknown}; known: {ALL_CASES}")
    cases = args.cases or ALL_CASES
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, numpy {np.__version__}, "
          f"{'write' if args.write else 'verify'} mode, rtol {args.rtol:g}"
          + (", inputs from the stored files" if args.keep_inputs else ", inputs from the seeds"))

    jobs = [(m[0], module_case, m) for m in MODULES] + [(c[0], cell_case, c) for c in CELLS]
    jobs += [(c[0], long_case, c) for c in LONG] + [("seed_examples", lambda spec, s, k: seed_examples(s, k), None)]
    failed, summaries, overall = False, [], (0.0, None)
    for case, fn, spec in jobs:
        if case not in cases:
            continue
        path = os.path.join(args.dir, f"{case}.json")
        stored = None
        if os.path.exists(path):
            with open(path) as fh:
                stored = json.load(fh)
        elif not args.write:
            print(f"{case}.json: missing")
            failed = True
            continue
        if args.keep_inputs and stored is None:
            raise SystemExit(f"{case}.json: --keep-inputs needs the stored file")
        data, fd = fn(spec, stored, args.keep_inputs)
        summaries.append((f"{case}.json", fd))
        if args.write:
            with open(path, "w") as fh:
                fh.write(dump(data) + "\n")
            print(f"{case}.json: written")
            continue
        cmp = Comparison(args.rtol)
        cmp.walk((), stored, data)
        line = (f"{case}.json: {cmp.numbers} numbers, {cmp.identical} bit-identical, "
                f"largest relative difference {cmp.worst[0]:.3e}")
        if cmp.worst[1]:
            line += f" ({cmp.worst[1]})"
        print(line)
        if cmp.worst[0] > overall[0]:
            overall = (cmp.worst[0], f"{case}.json {cmp.worst[1]}")
        for w in cmp.warnings:
            print(f"  warning: {w}")
        for e in cmp.errors[:20]:
            print(f"  MISMATCH {e}")
        if len(cmp.errors) > 20:
            print(f"  ... and {len(cmp.errors) - 20} more")
        failed |= bool(cmp.errors)
        for c, count, worst in fd:
            if worst >= FD_TOLERANCE:
                print(f"  FAILED finite differences: {c}: max_rel_err {worst:.3e} >= {FD_TOLERANCE:g}")
                failed = True

    if set(cases) == set(ALL_CASES):
        path = os.path.join(args.dir, "index.json")
        stored = None
        if os.path.exists(path):
            with open(path) as fh:
                stored = json.load(fh)
        data = index(stored, summaries)
        if args.write:
            with open(path, "w") as fh:
                fh.write(dump(data) + "\n")
            print("index.json: written")
        elif stored is None:
            print("index.json: missing")
            failed = True
        else:
            cmp = Comparison(args.rtol)
            cmp.walk((), stored, data)
            print(f"index.json: {cmp.numbers} numbers, {cmp.identical} bit-identical, "
                  f"largest relative difference {cmp.worst[0]:.3e}")
            for e in cmp.errors:
                print(f"  MISMATCH {e}")
            failed |= bool(cmp.errors)
    if not args.write:
        print(f"largest relative difference overall: {overall[0]:.3e}" + (f" ({overall[1]})" if overall[1] else ""))
        print("verification FAILED" if failed else "verification passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
