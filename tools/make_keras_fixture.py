#!/usr/bin/env python3
"""Make a conformance fixture with Keras: a keras.applications MobileNet (or a
fine-tuned variant with a custom head), realistic random weights, an input
batch and Keras' outputs.

usage (Keras 3 with the JAX backend: `pip install keras jax safetensors`):
    KERAS_BACKEND=jax python tools/make_keras_fixture.py --family v3small \
        --alpha 0.75 --height 40 --width 56 --classes 7 --minimalistic --out DIR

Writes DIR/weights.safetensors (via export_keras_weights.py), input.npy
[2,H,W,3], expected_logits.npy (the model's output), intermediates.safetensors
(image 0, the output of every Keras operation, keyed by its name),
meta.json, and spec.yaml, the mobilenet-rs spec of the same model.

Weights follow ../shared's recipe: He-normal kernels, random BatchNorm
affine parameters with moving statistics calibrated on images of the same
kind, so that clipping at 6, both sides of hard-swish and saturating SE gates
all occur.
"""

import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from export_keras_weights import export  # noqa: E402

FAMILIES = {"v1": "MobileNet", "v2": "MobileNetV2", "v3large": "MobileNetV3Large", "v3small": "MobileNetV3Small"}


def images(rng, n, h, w, pixels):
    """Smooth random images: upsampled noise plus gradients, in [-1, 1] (or [0, 255])."""
    out = np.empty((n, h, w, 3), np.float32)
    for i in range(n):
        coarse = rng.normal(size=(h // 8 + 2, w // 8 + 2, 3))
        ys = np.linspace(0, coarse.shape[0] - 1.001, h)
        xs = np.linspace(0, coarse.shape[1] - 1.001, w)
        y0, x0 = ys.astype(int), xs.astype(int)
        fy, fx = (ys - y0)[:, None, None], (xs - x0)[None, :, None]
        c = coarse
        img = (c[y0][:, x0] * (1 - fy) * (1 - fx) + c[y0 + 1][:, x0] * fy * (1 - fx)
               + c[y0][:, x0 + 1] * (1 - fy) * fx + c[y0 + 1][:, x0 + 1] * fy * fx)
        img += 0.3 * rng.normal(size=img.shape)
        out[i] = np.tanh(img)
    return (out + 1.0) * 127.5 if pixels else out


def build(a):
    import keras

    ctor = getattr(keras.applications, FAMILIES[a.family])
    kw = dict(input_shape=(a.height, a.width, 3), alpha=a.alpha, weights=None)
    if a.family.startswith("v3"):
        kw.update(minimalistic=a.minimalistic, include_preprocessing=a.include_preprocessing)
    if a.family == "v1" and a.depth_multiplier != 1:
        kw.update(depth_multiplier=a.depth_multiplier)
    if a.head == "classifier":
        return ctor(include_top=True, classes=a.classes, classifier_activation=a.classifier_activation, **kw)
    if a.head.startswith("features"):
        pooling = a.head.split("-")[1]
        return ctor(include_top=False, pooling=None if pooling == "none" else pooling, **kw)
    # A transfer-learning head on the backbone, as users write it.
    base = ctor(include_top=False, **kw)
    x = base.output
    x = {"avg": keras.layers.GlobalAveragePooling2D(), "max": keras.layers.GlobalMaxPooling2D(),
         "flatten": keras.layers.Flatten()}[a.custom_pooling](x)
    x = keras.layers.Dense(24, activation="relu")(x)
    x = keras.layers.Dropout(0.3)(x)
    x = keras.layers.Dense(a.classes, activation="softmax", name="predictions")(x)
    return keras.Model(base.input, x, name="fine_tuned")


def fixture_spec(a):
    """The spec of the model `build` makes: `mobilenetc spec` output, with the
    head and options the standard spec does not cover edited in."""
    import subprocess

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    fam = {"v3large": "v3-large", "v3small": "v3-small"}.get(a.family, a.family)
    cmd = ["cargo", "run", "-q", "-p", "mobilenet-compiler", "--bin", "mobilenetc", "--", "spec", fam,
           "--alpha", repr(a.alpha), "--resolution", f"{a.height}x{a.width}", "--classes", str(a.classes)]
    if a.minimalistic:
        cmd.append("--minimalistic")
    if a.include_preprocessing:
        cmd.append("--include-preprocessing")
    if a.classifier_activation == "softmax":
        cmd += ["--classifier-activation", "softmax"]
    text = subprocess.run(cmd, cwd=root, check=True, capture_output=True, text=True).stdout
    if a.depth_multiplier != 1:
        text = text.replace("\nalpha:", f"\ndepth_multiplier: {a.depth_multiplier}\nalpha:")
    if a.head == "classifier":
        return text
    text = text[: text.index("head:")]
    if a.head.startswith("features"):
        return text + f"head:\n  features: {{pooling: {a.head.split('-')[1]}}}\n"
    return text + (
        "head:\n"
        "  custom:\n"
        f"    pooling: {a.custom_pooling}\n"
        "    layers:\n"
        "      - dense: {units: 24, activation: relu}\n"
        "      - dropout: {rate: 0.3}\n"
        f"      - dense: {{units: {a.classes}, activation: softmax, name: predictions}}\n"
    )


def randomize(model, rng, calib, head_scale):
    import keras

    head = {"conv_preds", "predictions", "logits", "conv_2"}
    for layer in model.layers:
        ws = layer.get_weights()
        if not ws or isinstance(layer, keras.layers.BatchNormalization):
            continue
        new = []
        for w in ws:
            if w.ndim == 1:
                new.append(rng.normal(0, 0.1, w.shape).astype(np.float32))
            else:
                fan_in = np.prod(w.shape[:-1]) if not isinstance(layer, keras.layers.DepthwiseConv2D) \
                    else np.prod(w.shape[:2])
                scale = np.sqrt(2.0 / fan_in) * (head_scale if layer.name in head else 1.0)
                new.append(rng.normal(0, scale, w.shape).astype(np.float32))
        layer.set_weights(new)
    # BatchNorm in topological order, each calibrated on what reaches it.
    for layer in model.layers:
        if not isinstance(layer, keras.layers.BatchNormalization):
            continue
        sub = keras.Model(model.inputs, layer.input)
        x = np.asarray(sub(calib, training=False)).reshape(-1, layer.input.shape[-1]).astype(np.float64)
        mean, var = x.mean(0), x.var(0) + 1e-6
        c = mean.shape[0]
        gamma = rng.uniform(0.5, 1.5, c) * 1.5
        beta = rng.normal(0.3, 0.2, c)
        mm = mean + 0.05 * np.sqrt(var) * rng.normal(size=c)
        mv = var * rng.uniform(0.8, 1.2, c)
        layer.set_weights([w.astype(np.float32) for w in (gamma, beta, mm, mv)])


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--family", choices=sorted(FAMILIES), required=True)
    p.add_argument("--alpha", type=float, default=1.0)
    p.add_argument("--height", type=int, default=224)
    p.add_argument("--width", type=int, default=224)
    p.add_argument("--classes", type=int, default=1000)
    p.add_argument("--minimalistic", action="store_true")
    p.add_argument("--include-preprocessing", action="store_true")
    p.add_argument("--depth-multiplier", type=int, default=1)
    p.add_argument("--classifier-activation", default=None)
    p.add_argument("--head", default="classifier",
                   choices=["classifier", "features-none", "features-avg", "features-max", "custom"])
    p.add_argument("--custom-pooling", default="avg", choices=["avg", "max", "flatten"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--head-scale", type=float, default=3.0,
                   help="extra scale of the classifier kernels; lower it to keep a softmax unsaturated")
    p.add_argument("--out", required=True)
    a = p.parse_args()

    import keras

    rng = np.random.default_rng(a.seed)
    keras.utils.set_random_seed(a.seed)
    model = build(a)
    pixels = a.include_preprocessing
    randomize(model, rng, images(rng, 8, a.height, a.width, pixels), a.head_scale)
    x = images(rng, 2, a.height, a.width, pixels)
    y = np.asarray(model(x, training=False), np.float32)

    os.makedirs(a.out, exist_ok=True)
    tensors = export(model, os.path.join(a.out, "weights.safetensors"))
    np.save(os.path.join(a.out, "input.npy"), x)
    np.save(os.path.join(a.out, "expected_logits.npy"), y)

    ops = [op for op in model.operations
           if type(op).__name__ not in ("InputLayer", "Dropout") and getattr(op, "output", None) is not None]
    probe = keras.Model(model.inputs, [op.output for op in ops])
    values = probe(x[:1], training=False)
    from safetensors.numpy import save_file
    save_file({op.name: np.ascontiguousarray(np.asarray(v)[0], np.float32) for op, v in zip(ops, values)},
              os.path.join(a.out, "intermediates.safetensors"))

    meta = {
        "generator": "tools/make_keras_fixture.py", "argv": sys.argv[1:], "keras": keras.__version__,
        "backend": keras.backend.backend(), "family": a.family, "alpha": a.alpha, "height": a.height,
        "width": a.width, "classes": a.classes, "minimalistic": a.minimalistic,
        "include_preprocessing": a.include_preprocessing, "depth_multiplier": a.depth_multiplier,
        "classifier_activation": a.classifier_activation, "head": a.head,
        "intermediates": "every operation", "params": int(sum(v.size for v in tensors.values())),
        "model_name": model.name,
    }
    with open(os.path.join(a.out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
    with open(os.path.join(a.out, "spec.yaml"), "w") as f:
        f.write(fixture_spec(a))
    print(f"{a.out}: {model.name}, {meta['params']:,} params, output {y.shape}, "
          f"|y| max {np.abs(y).max():.3f}, top1 {y.argmax(-1)}")


if __name__ == "__main__":
    main()
