#!/usr/bin/env python3
"""Times ONNX Runtime on request, for `cargo bench --bench compare`.

usage: ort_worker.py MODEL.onnx FIXTURE_DIR THREADS [BATCH]

Loads the model with the same session options as ../shared/peers/bench_ort.py
(full graph optimization, sequential execution, THREADS intra-op threads) and
image 0 of FIXTURE_DIR/input.npy. Prints `ready <max abs diff vs expected
logits>`, then for every line `N` read from stdin runs the model N times and
prints the N durations in milliseconds on one line. Exits at end of input.
With BATCH > 1 each run takes BATCH copies of image 0 (throughput).
"""
import os
import sys
import time

import numpy as np
import onnxruntime as ort


def main():
    model, fixture, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
    batch = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
    x = np.ascontiguousarray(np.load(os.path.join(fixture, "input.npy"))[:1])
    y = sess.run(None, {"input": x})[0]
    exp = np.load(os.path.join(fixture, "expected_logits.npy"))[:1]
    print(f"ready {float(np.abs(y - exp).max())} {ort.__version__}", flush=True)
    x = np.ascontiguousarray(np.repeat(x, batch, axis=0))
    for line in sys.stdin:
        n = int(line)
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            sess.run(None, {"input": x})
            times.append((time.perf_counter() - t0) * 1e3)
        print(" ".join(f"{t:.4f}" for t in times), flush=True)


if __name__ == "__main__":
    main()
