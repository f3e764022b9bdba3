#!/usr/bin/env python3
"""Times onnxruntime on every shipped model's float and int8 ONNX, one network evaluation.

    /opt/torchenv/bin/python scripts/bench-onnxruntime.py      (any Python with numpy and
                                                                onnxruntime)

Writes target/bench-onnxruntime.json, which `cargo run -p edgediff-tests --bin bench-report`
puts beside the runtime's criterion medians in BENCHMARKS.md. onnxruntime runs on the CPU
execution provider with one intra-op thread and its default graph optimizations, as a desktop
user would run it; the inputs are a middle sampling step with label 0, like the criterion
bench. Batch 1 always; batch 64 where the exported file has a dynamic batch axis (the
edgediff-written files are batch 1). Each figure is the median of 7 repeats of a timed loop of
at least 0.2 s. CI does not run this.
"""

import json
import os
import statistics
import sys
import time

import numpy as np
import onnxruntime as ort

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
MODELS = ["two-moons", "two-moons-flow", "digits-mlp", "digits-unet", "digits-attn", "ecg-unet1d"]


def session(path):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])


def feed(s, batch):
    """Inputs of `batch` samples: the signal, the step (10) and the label (0)."""
    out = {}
    rng = np.random.default_rng(0)
    for i in s.get_inputs():
        shape = [batch if not isinstance(d, int) else d for d in i.shape]
        if i.type == "tensor(float)":
            out[i.name] = rng.standard_normal(shape).astype(np.float32)
        elif "label" in i.name:
            out[i.name] = np.zeros(shape, dtype=np.int64)
        else:
            out[i.name] = np.full(shape, 10, dtype=np.int64)
    return out


def seconds_per_call(s, inputs):
    s.run(None, inputs)
    n, t = 1, 0.0
    while True:
        start = time.perf_counter()
        for _ in range(n):
            s.run(None, inputs)
        t = time.perf_counter() - start
        if t >= 0.2:
            break
        n *= 2
    runs = [t / n]
    for _ in range(6):
        start = time.perf_counter()
        for _ in range(n):
            s.run(None, inputs)
        runs.append((time.perf_counter() - start) / n)
    return statistics.median(runs)


def main():
    result = {"onnxruntime": ort.__version__, "models": {}}
    for m in MODELS:
        r = {}
        for kind in ["float", "int8"]:
            s = session(os.path.join(ROOT, "models", m, f"{kind}.onnx"))
            r[f"{kind}_b1"] = seconds_per_call(s, feed(s, 1))
            dynamic = any(not isinstance(d, int) for i in s.get_inputs() for d in i.shape)
            r[f"{kind}_b64"] = seconds_per_call(s, feed(s, 64)) if dynamic else None
        result["models"][m] = r
        print(m, {k: (None if v is None else f"{v * 1e6:.1f} us") for k, v in r.items()})
    out = os.path.join(ROOT, "target", "bench-onnxruntime.json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump(result, f, indent=1)
    print("wrote", out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
