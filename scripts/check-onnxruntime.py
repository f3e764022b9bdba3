#!/usr/bin/env python3
"""onnxruntime runs edgediff's int8 ONNX and gives the device runtime's bits, layer by layer.

    cargo run --release -p edgediff-tests --bin layer-dump -- M.int8.onnx M.pack DIR [CASES]
    python3 scripts/check-onnxruntime.py DIR

DIR holds what layer-dump wrote: the int8 ONNX with every op's int8 output exposed
(`model.onnx`, or `model.step{k}.onnx` per sampling step) and `cases.json` (inputs and the
runtime's int8 output of every op). This runs each case on onnxruntime (CPU, one thread), with
its graph optimizations on (the default) and off, and counts the int8 values that differ, per
op type. Needs numpy and onnxruntime; CI does not
run it (the Rust tests compare the runtime with tract).
"""

import json
import os
import sys

import numpy as np
import onnxruntime as ort


def session(path, optimize):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    if not optimize:
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])


def main():
    d = sys.argv[1]
    doc = json.load(open(os.path.join(d, "cases.json")))
    worst = 0
    for optimize in [True, False]:
        worst = max(worst, check(d, doc, optimize))
    return 1 if worst else 0


def check(d, doc, optimize):
    """Counts the values onnxruntime computes differently, with its graph optimizations on
    (what users run) or off."""
    paths = {}
    if doc["per_step"]:
        steps = {c["step"] for c in doc["cases"]}
        for s in steps:
            paths[s] = os.path.join(d, f"model.step{s}.onnx")
    else:
        paths = None
    first = paths[min(paths)] if paths else os.path.join(d, "model.onnx")
    sessions = {}
    total, differ, by_op = 0, 0, {}
    for c in doc["cases"]:
        key = c["step"] if paths else None
        if key not in sessions:
            sessions[key] = session(paths[key] if paths else first, optimize)
        s = sessions[key]
        feed = {"x": np.asarray(c["x"], dtype=np.float32).reshape(doc["x_shape"]), "step": np.array([c["step"]], dtype=np.int64)}
        if doc["conditional"]:
            feed["label"] = np.array([c["label"]], dtype=np.int64)
        names = [o.name for o in s.get_outputs()]
        outs = dict(zip(names, s.run(None, feed)))
        for layer in c["layers"]:
            theirs = outs[layer["tensor"]].reshape(-1).astype(np.int32)
            mine = np.asarray(layer["values"], dtype=np.int32)
            n_diff = int((theirs != mine).sum())
            op = layer["op"]
            stats = by_op.setdefault(op, [0, 0, 0])
            stats[0] += mine.size
            stats[1] += n_diff
            stats[2] = max(stats[2], int(np.abs(theirs - mine).max(initial=0)))
            total += mine.size
            differ += n_diff
    level = "graph optimizations on" if optimize else "graph optimizations off"
    print(f"onnxruntime {ort.__version__}, {level}: {len(doc['cases'])} cases, {total} int8 values, {differ} differ")
    for op, (n, k, worst) in sorted(by_op.items()):
        print(f"  {op:<16} {n:>10} values, {k:>6} differ (worst {worst} LSB)")
    return max((w for _, _, w in by_op.values()), default=0)


if __name__ == "__main__":
    sys.exit(main())
