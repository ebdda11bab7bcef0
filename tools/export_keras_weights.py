#!/usr/bin/env python3
"""Export the weights of a Keras model to the safetensors layout mobilenet-rs loads.

usage:
    python tools/export_keras_weights.py MODEL OUT.safetensors [--list]

MODEL is anything `keras.saving.load_model` reads (`.keras`, `.h5`), or a
`module:function` that returns a model (e.g. `my_training:build_model`).

Every float variable of every layer is written as float32 under the key
`<keras layer name>/<variable name>`, in Keras' own layouts:
Conv2D kernel [kh,kw,in,out], DepthwiseConv2D kernel [kh,kw,in,mult]
(`kernel` in Keras 3, `depthwise_kernel` in tf.keras 2; mobilenet-rs
accepts both), Dense kernel [in,out], biases [out], BatchNormalization
gamma/beta/moving_mean/moving_variance [C]. Layers of nested models (a
`keras.applications` backbone used as a layer of a fine-tuned model) are
written under their own names, so the backbone's tensors keep the names
mobilenet-rs expects. Non-float state (Dropout seed generators) is skipped.

Works with Keras 3 (any backend) and tf.keras 2. Needs numpy and
safetensors (`pip install safetensors`).
"""

import argparse
import importlib
import sys

import numpy as np


def _variable_name(variable):
    # Keras 3: "kernel"; tf.keras 2: "block_1_expand/kernel:0".
    name = getattr(variable, "name", "") or ""
    return name.split("/")[-1].split(":")[0]


def _leaf_layers(model):
    """Layers of `model`, descending into nested models."""
    for layer in model.layers:
        if hasattr(layer, "layers") and layer.weights and layer.layers:
            yield from _leaf_layers(layer)
        else:
            yield layer


def keras_tensors(model):
    """{"<layer>/<variable>": float32 array} for every float variable."""
    out = {}
    for layer in _leaf_layers(model):
        for variable in layer.weights:
            value = np.asarray(variable.numpy() if hasattr(variable, "numpy") else variable)
            if not np.issubdtype(value.dtype, np.floating):
                continue  # seed generator state and other non-weights
            key = f"{layer.name}/{_variable_name(variable)}"
            if key in out:
                raise SystemExit(f"error: two variables are both named {key}; rename one of the layers")
            out[key] = np.ascontiguousarray(value, dtype=np.float32)
    return out


def export(model, path):
    """Write `model`'s weights to `path`; returns the tensors written."""
    from safetensors.numpy import save_file

    tensors = keras_tensors(model)
    save_file(tensors, path)
    return tensors


def _load(spec):
    if ":" in spec and not spec.endswith((".keras", ".h5")):
        module, function = spec.split(":", 1)
        return getattr(importlib.import_module(module), function)()
    import keras

    return keras.saving.load_model(spec, compile=False)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model", help="a .keras/.h5 file, or module:function returning a model")
    p.add_argument("out", help="the safetensors file to write")
    p.add_argument("--list", action="store_true", help="print the keys and shapes written")
    a = p.parse_args(argv)
    tensors = export(_load(a.model), a.out)
    if a.list:
        for key, value in tensors.items():
            print(f"{key} {list(value.shape)}")
    total = sum(v.size for v in tensors.values())
    print(f"wrote {len(tensors)} tensors, {total:,} values to {a.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
