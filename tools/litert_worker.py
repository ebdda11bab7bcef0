#!/usr/bin/env python3
"""Times LiteRT (TFLite with XNNPACK, its default CPU delegate) on request,
for `cargo bench --bench compare`.

usage: litert_worker.py MODEL.tflite FIXTURE_DIR THREADS

The same protocol as ort_worker.py: loads the model with THREADS threads and
image 0 of FIXTURE_DIR/input.npy (NHWC, as the .tflite models of
../shared/peers/litert/setup.sh take it), prints `ready <max abs diff vs
expected logits> <litert version>`, then for every line `N` read from stdin
runs the model N times and prints the N durations in milliseconds on one
line. Exits at end of input.
"""
import os
import sys
import time

import numpy as np
from ai_edge_litert import interpreter as litert


def main():
    model, fixture, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
    interp = litert.Interpreter(model_path=model, num_threads=threads)
    interp.allocate_tensors()
    inp = interp.get_input_details()[0]
    out = interp.get_output_details()[0]
    x = np.ascontiguousarray(np.load(os.path.join(fixture, "input.npy"))[:1]).astype(inp["dtype"])

    def run():
        interp.set_tensor(inp["index"], x)
        interp.invoke()
        return interp.get_tensor(out["index"])

    y = run()
    exp = np.load(os.path.join(fixture, "expected_logits.npy"))[:1]
    try:
        from importlib.metadata import version

        v = version("ai-edge-litert")
    except Exception:  # noqa: BLE001 - the version is only shown
        v = "?"
    print(f"ready {float(np.abs(y - exp).max())} {v}", flush=True)
    for line in sys.stdin:
        n = int(line)
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            run()
            times.append((time.perf_counter() - t0) * 1e3)
        print(" ".join(f"{t:.4f}" for t in times), flush=True)


if __name__ == "__main__":
    main()
