#!/usr/bin/env python3
"""Make a conformance fixture with PyTorch: a torchvision MobileNet (v2,
v3-large or v3-small) with realistic random weights, an input batch and
torchvision's outputs.

setup (once; torch, torchvision, safetensors and numpy as pinned there):
    python3 -m venv tools/.venv-torch
    tools/.venv-torch/bin/pip install -r tools/requirements-torch.txt

usage:
    nice -n 19 tools/.venv-torch/bin/python tools/make_torch_fixture.py \\
        --arch mobilenet_v3_small --width-mult 0.5 --height 96 --width 80 \\
        --classes 10 --seed 5 --intermediates --out tests/data/tv_v3small_0.5_96x80_c10

The model is `torchvision.models.<arch>(weights=None, num_classes=K,
width_mult=W)` in eval mode. Writes to DIR:

  weights.safetensors        the state_dict unchanged: torchvision names and
                             layouts (conv [out,in/groups,kh,kw], Linear
                             [out,in]), float32, plus the int64 scalar
                             `*.num_batches_tracked` a real state_dict has
  input.npy                  [2,H,W,3] float32 NHWC, x = p/127.5 - 1 for
                             smooth random pixels p in [0,255]; torch gets
                             x.permute(0,3,1,2)
  expected_logits.npy        [2,K] float32, eager CPU, 1 thread
  expected_logits_f64.npy    [2,K] float64, the same parameters, model.double()
  intermediates.safetensors  (with --intermediates) image 0, CHW float32
                             without batch dim, keyed by module name: every
                             child of `features`, `avgpool` (v2 has no such
                             module: there it is F.adaptive_avg_pool2d of the
                             features, as MobileNetV2.forward computes it), and
                             every child of `classifier` except Dropout
  meta.json                  command, versions, config, every module in
                             order with its channels/kernel/stride/padding/
                             groups, BatchNorm eps per layer, per-block
                             channel summary, activation statistics, and how
                             the weights were made

Weights follow the recipe of tools/make_keras_fixture.py: He-normal convs,
random BatchNorm affine parameters, BatchNorm running statistics calibrated
layer by layer in execution order on images of the same kind as the test
images, SE biases that make gates saturate sometimes, and head Linear layers
scaled so the logits are centred with std ~4. So ReLU6 clipping, both sides
of hard-swish (+-3) and saturating SE gates all occur.
"""

import argparse
import copy
import json
import os
import platform
import sys
import time

import numpy as np

ARCHS = ("mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small")
ACTS = ("ReLU", "ReLU6", "Hardswish", "Hardsigmoid")

SEMANTICS = {
    "layout": "weights: Conv2d OIHW [out, in/groups, kh, kw]; depthwise Conv2d [C,1,kh,kw] with groups=C; "
              "Linear [out,in] (y = x @ W.T + b); BN vectors [C]; num_batches_tracked int64 scalar (shape []), "
              "unused in eval mode. Activations NCHW inside torch; input.npy is NHWC and the model is fed "
              "input.permute(0,3,1,2).",
    "padding": "every Conv2d in torchvision MobileNets (Conv2dNormActivation) uses SYMMETRIC zero padding "
               "p = (k-1)//2 * dilation on all four sides (1 for 3x3, 2 for 5x5, 0 for 1x1), for stride 1 and 2 "
               "alike; output size = floor((in + 2p - k)/s) + 1. This differs from Keras/TF 'same' (and "
               "correct_pad ZeroPadding2D) which for stride 2 and EVEN input pads (0,1) for 3x3 and (1,2) for 5x5 "
               "(extra pixel bottom/right); for ODD input TF pads (1,1)/(2,2) = torchvision. Output sizes are "
               "identical; the sampling grid is shifted by one pixel for even inputs.",
    "batchnorm": "y = (x - running_mean) / sqrt(running_var + eps) * weight + bias (eval mode). eps: "
                 "mobilenet_v2 1e-5 (nn.BatchNorm2d default), mobilenet_v3 1e-3 (partial(BatchNorm2d, "
                 "eps=0.001, momentum=0.01)); see bn_eps per layer.",
    "relu6": "min(max(x,0),6)",
    "hardsigmoid": "torch.nn.functional.hardsigmoid: 0 if x<=-3, 1 if x>=3, else x/6 + 1/2 (ATen CPU kernel: "
                   "min(max(x + 3, 0), 6) / 6)",
    "hardswish": "torch.nn.functional.hardswish: 0 if x<=-3, x if x>=3, else x*(x+3)/6 (ATen CPU kernel: "
                 "x * min(max(x + 3, 0), 6) / 6)",
    "se_block": "torchvision.ops.SqueezeExcitation(input_channels=E, squeeze_channels=S, activation=ReLU, "
                "scale_activation=Hardsigmoid): s = AdaptiveAvgPool2d(1)(x); s = fc1(s) [Conv2d 1x1, E->S, bias]; "
                "s = ReLU(s); s = fc2(s) [Conv2d 1x1, S->E, bias]; s = Hardsigmoid(s); out = x * s. Placed after "
                "depthwise conv-BN-activation, before the project conv. S = _make_divisible(E // 4, 8) (integer "
                "division first).",
    "make_divisible": "_make_divisible(v, 8) = max(8, int(v + 4) // 8 * 8), +8 if that is < 0.9*v",
    "v2_structure": "features[0] = Conv3x3 s2 (3->make_div(32*a)) BN ReLU6; features[1..17] "
                    "InvertedResidual(t,c,n,s) with hidden = round(in*t) (no expand conv when t==1), expand 1x1 BN "
                    "ReLU6 -> dw 3x3 BN ReLU6 -> project 1x1 BN (no act) (the sub-Sequential is called `conv`: "
                    "conv.0, conv.1 Conv2dNormActivation, conv.2 Conv2d, conv.3 BatchNorm2d; without expansion "
                    "conv.0 dw, conv.1 Conv2d, conv.2 BatchNorm2d), residual iff stride 1 and in==out; out "
                    "channels make_div(c*a, 8); features[18] = Conv1x1 (-> last_channel) BN ReLU6; "
                    "F.adaptive_avg_pool2d(x, (1,1)) (a function call, NOT a module: v2 has no `avgpool` module) "
                    "-> flatten -> classifier = [Dropout(0.2), Linear(last_channel, K)]. last_channel = "
                    "make_div(1280*max(1,a), 8).",
    "v3_structure": "features[0] = Conv3x3 s2 (3->adjust(16)) BN Hardswish; InvertedResidual per config row "
                    "(input, kernel, expanded, out, use_se, RE/HS, stride), all channel counts = make_div(c*a, 8) "
                    "independently (expanded is scaled from the table value, NOT in*ratio); expand 1x1 conv only "
                    "if expanded != input; dw kxk BN act -> [SE] -> project 1x1 BN (no act); residual iff stride 1 "
                    "and in==out (result += input). Last features entry: Conv1x1 (out_last -> 6*out_last) BN "
                    "Hardswish. Then avgpool = AdaptiveAvgPool2d(1), flatten, classifier = [Linear(6*out_last, "
                    "last_channel), Hardswish, Dropout(0.2), Linear(last_channel, K)]; last_channel = "
                    "make_div(1280*a, 8) (large) or make_div(1024*a, 8) (small) for ALL a (also a<1). The head "
                    "Linear layers have bias and no BN.",
}


class _Stop(Exception):
    pass


def make_images(rng, n, h, w):
    """Smooth random images (upsampled noise plus fine noise through tanh, as
    in make_keras_fixture.py), quantised to integer pixels p in [0,255],
    returned as x = p/127.5 - 1, NHWC float32."""
    out = np.empty((n, h, w, 3), np.float64)
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
    pixels = np.clip(np.rint((out + 1.0) * 127.5), 0, 255)
    return (pixels / 127.5 - 1.0).astype(np.float32)


def nchw(x):
    import torch

    return torch.from_numpy(np.ascontiguousarray(x)).permute(0, 3, 1, 2).contiguous()


def build(arch, classes, width_mult):
    import torchvision

    model = getattr(torchvision.models, arch)(weights=None, num_classes=classes, width_mult=width_mult)
    return model.eval()


def describe(name, m):
    """One entry of meta.json's `modules`, in the shared fixture's format."""
    import torch.nn as nn

    cls = type(m).__name__
    d = {"name": name, "class": cls}
    if isinstance(m, nn.Conv2d):
        d.update(in_channels=m.in_channels, out_channels=m.out_channels, kernel=list(m.kernel_size),
                 stride=list(m.stride), padding=list(m.padding), dilation=list(m.dilation), groups=m.groups,
                 bias=m.bias is not None, weight_shape=list(m.weight.shape),
                 depthwise=m.groups > 1 and m.groups == m.in_channels == m.out_channels)
    elif isinstance(m, nn.BatchNorm2d):
        d.update(num_features=m.num_features, eps=m.eps, momentum=m.momentum)
    elif isinstance(m, nn.Linear):
        d.update(in_features=m.in_features, out_features=m.out_features, weight_shape=list(m.weight.shape))
    elif cls in ACTS:
        d.update(inplace=bool(getattr(m, "inplace", False)))
    elif isinstance(m, nn.Dropout):
        d.update(p=m.p, note="identity in eval mode")
    elif isinstance(m, nn.AdaptiveAvgPool2d):
        d.update(output_size=m.output_size, note="global mean over H,W")
    elif cls == "Conv2dNormActivation":
        d.update(out_channels=m.out_channels, forward="sequential: conv -> [bn] -> [activation]")
    elif cls == "InvertedResidual":
        d.update(use_res_connect=bool(m.use_res_connect), out_channels=m.out_channels,
                 forward="x + sequential(x)" if m.use_res_connect else "sequential(x)")
    elif cls == "SqueezeExcitation":
        d.update(input_channels=m.fc1.in_channels, squeeze_channels=m.fc1.out_channels,
                 forward="x * scale_activation(fc2(activation(fc1(avgpool(x)))))")
    return d


def block_summary(model):
    """Per entry of `features`: channels, kernel, stride, SE, activation."""
    import torch.nn as nn

    rows = []
    for i, child in enumerate(model.features):
        convs = [(n, c) for n, c in child.named_modules() if isinstance(c, nn.Conv2d)]
        acts = [type(c).__name__ for n, c in child.named_modules()
                if type(c).__name__ in ("ReLU", "ReLU6", "Hardswish") and not n.endswith("activation")]
        main = [c for n, c in convs if n.split(".")[-1] not in ("fc1", "fc2")]
        se = [c for n, c in convs if n.split(".")[-1] == "fc1"]
        row = {"name": f"features.{i}", "class": type(child).__name__, "in": main[0].in_channels,
               "out": main[-1].out_channels}
        if type(child).__name__ == "InvertedResidual":
            dw = [c for c in main if c.groups > 1][0]
            row.update(expanded=dw.in_channels, expand_conv=main[0].groups == 1 and len(main) == 3,
                       kernel=dw.kernel_size[0], stride=dw.stride[0], residual=bool(child.use_res_connect),
                       se_squeeze=se[0].out_channels if se else None, activation=acts[0] if acts else None)
        else:
            row.update(kernel=main[0].kernel_size[0], stride=main[0].stride[0],
                       activation=acts[0] if acts else None)
        rows.append(row)
    head = [{"name": f"classifier.{j}", "in": c.in_features, "out": c.out_features}
            for j, c in enumerate(model.classifier) if isinstance(c, nn.Linear)]
    return {"features": rows, "classifier_linear": head}


def bn_execution_order(model, x):
    import torch
    import torch.nn as nn

    order, hooks = [], []
    for name, m in model.named_modules():
        if isinstance(m, nn.BatchNorm2d):
            hooks.append(m.register_forward_pre_hook(lambda mod, inp, name=name: order.append(name)))
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return order


def randomize(model, rng, calib_np):
    """Random parameters in named_modules() order, then BatchNorm running
    statistics calibrated in execution order, then the head. Returns init info."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    def t(a):
        return torch.from_numpy(np.asarray(a, np.float32))

    with torch.no_grad():
        for name, m in model.named_modules():
            if isinstance(m, nn.Conv2d):
                fan_in = (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]
                m.weight.copy_(t(rng.normal(0, np.sqrt(2.0 / fan_in), m.weight.shape)))
                if m.bias is not None:
                    std = 1.5 if name.endswith("fc2") else 0.1
                    m.bias.copy_(t(rng.normal(0, std, m.bias.shape)))
            elif isinstance(m, nn.BatchNorm2d):
                c = m.num_features
                m.weight.copy_(t(rng.uniform(0.5, 1.5, c) * 2.0))
                m.bias.copy_(t(rng.normal(0, 0.2, c)))
                m.running_mean.zero_()
                m.running_var.fill_(1.0)
            elif isinstance(m, nn.Linear):
                m.weight.copy_(t(rng.normal(0, np.sqrt(1.0 / m.in_features), m.weight.shape)))
                m.bias.zero_()

    calib = nchw(calib_np)
    order = bn_execution_order(model, calib)
    modules = dict(model.named_modules())
    for name in order:
        bn = modules[name]
        got = {}

        def grab(mod, inp):
            got["x"] = inp[0].detach().double()
            raise _Stop

        h = bn.register_forward_pre_hook(grab)
        try:
            with torch.no_grad():
                model(calib)
        except _Stop:
            pass
        finally:
            h.remove()
        x = got["x"].transpose(0, 1).reshape(bn.num_features, -1).numpy()
        mean, var = x.mean(1), x.var(1) + 1e-6
        c = bn.num_features
        with torch.no_grad():
            bn.running_mean.copy_(t(mean + 0.05 * np.sqrt(var) * rng.normal(size=c)))
            bn.running_var.copy_(t(var * rng.uniform(0.8, 1.2, c)))

    # The head, on the calibration images' pooled features.
    info = {}
    with torch.no_grad():
        f = F.adaptive_avg_pool2d(model.features(calib), 1).flatten(1).double()
        linears = [(j, m) for j, m in enumerate(model.classifier) if isinstance(m, nn.Linear)]
        for j, lin in linears[:-1]:  # v3: classifier.0, then Hardswish
            z = f @ lin.weight.double().T
            zc = z - z.mean(0)
            g = 1.0 / float(zc.std())
            lin.weight.mul_(g)
            lin.bias.copy_(t(-g * z.mean(0).numpy() + rng.normal(0, 2.0, lin.out_features)))
            info[f"classifier.{j}"] = {"gain": g, "offset_std": 2.0}
            f = model.classifier[j + 1](lin(f.float())).double()
        j, lin = linears[-1]
        z = f @ lin.weight.double().T
        g = 4.0 / float((z - z.mean(0)).std())
        lin.weight.mul_(g)
        lin.bias.copy_(t(-g * z.mean(0).numpy()))
        info[f"classifier.{j}"] = {"gain": g, "target_centred_logit_std": 4.0}
    return order, info


def activation_stats(model, x):
    """Pre-activation statistics of every ReLU/ReLU6/Hardswish/Hardsigmoid on
    both test images, and the SE gate values (Hardsigmoid outputs)."""
    import torch

    stats, gates, hooks = {}, [], []
    for name, m in model.named_modules():
        kind = type(m).__name__
        if kind not in ACTS:
            continue

        def pre(mod, inp, name=name, kind=kind):
            v = inp[0].detach().double()
            s = {"kind": kind, "min": float(v.min()), "max": float(v.max()), "n": v.numel()}
            if kind in ("ReLU", "ReLU6"):
                s["frac_lt0"] = float((v < 0).double().mean())
            if kind == "ReLU6":
                s["frac_gt6"] = float((v > 6).double().mean())
            if kind in ("Hardswish", "Hardsigmoid"):
                s["frac_lt_m3"] = float((v < -3).double().mean())
                s["frac_gt_p3"] = float((v > 3).double().mean())
            stats[name] = s

        hooks.append(m.register_forward_pre_hook(pre))
        if kind == "Hardsigmoid":
            hooks.append(m.register_forward_hook(lambda mod, inp, out: gates.append(out.detach().double().flatten())))
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    summary = {}
    for s in stats.values():
        k = summary.setdefault(s["kind"], {"modules": 0, "elements": 0, "min": np.inf, "max": -np.inf,
                                           "modules_with_clip": 0})
        k["modules"] += 1
        k["elements"] += s["n"]
        k["min"], k["max"] = min(k["min"], s["min"]), max(k["max"], s["max"])
        clip = {"ReLU": False, "ReLU6": s.get("frac_gt6", 0) > 0,
                "Hardswish": s.get("frac_lt_m3", 0) > 0 and s.get("frac_gt_p3", 0) > 0,
                "Hardsigmoid": s.get("frac_lt_m3", 0) > 0 and s.get("frac_gt_p3", 0) > 0}[s["kind"]]
        k["modules_with_clip"] += int(clip)
        for key in ("frac_lt0", "frac_gt6", "frac_lt_m3", "frac_gt_p3"):
            if key in s:
                k[key] = k.get(key, 0.0) + s[key] * s["n"]
    for k in summary.values():
        for key in ("frac_lt0", "frac_gt6", "frac_lt_m3", "frac_gt_p3"):
            if key in k:
                k[key] /= k["elements"]
    gate = None
    if gates:
        g = torch.cat(gates)
        gate = {"n": g.numel(), "frac_eq0": float((g == 0).double().mean()), "frac_eq1": float((g == 1).double().mean()),
                "mean": float(g.mean()), "min": float(g.min()), "max": float(g.max())}
    return stats, summary, gate


def forward_with_intermediates(model, x):
    """Logits of the batch and image 0's intermediates, from the same run."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    inter, hooks = {}, []
    targets = [(f"features.{i}", c) for i, c in enumerate(model.features)]
    if hasattr(model, "avgpool"):
        targets.append(("avgpool", model.avgpool))
    else:
        # MobileNetV2.forward pools with a function call: record it from the features' output.
        hooks.append(model.features.register_forward_hook(
            lambda mod, inp, out: inter.__setitem__("avgpool", F.adaptive_avg_pool2d(out[0], 1).detach().clone())))
    targets += [(f"classifier.{j}", c) for j, c in enumerate(model.classifier) if not isinstance(c, nn.Dropout)]
    for name, m in targets:
        # clone: the next module may be an in-place activation (classifier.1 Hardswish).
        hooks.append(m.register_forward_hook(
            lambda mod, inp, out, name=name: inter.__setitem__(name, out[0].detach().clone())))
    with torch.no_grad():
        y = model(x)
    for h in hooks:
        h.remove()
    order = [n for n, _ in targets if n.startswith("features.")] + ["avgpool"] + \
            [n for n, _ in targets if n.startswith("classifier.")]
    return y, {n: inter[n] for n in order}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--arch", choices=ARCHS, required=True)
    p.add_argument("--width-mult", type=float, default=1.0)
    p.add_argument("--height", type=int, default=224)
    p.add_argument("--width", type=int, default=224)
    p.add_argument("--classes", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--calibration-images", type=int, default=None,
                   help="default: 8 at 224x224, more for smaller images (8*224*224/(H*W), at most 32), so "
                        "that the deepest BatchNorms see enough pixels")
    p.add_argument("--intermediates", action="store_true")
    p.add_argument("--out", required=True)
    a = p.parse_args()
    if a.calibration_images is None:
        a.calibration_images = int(min(32, max(8, round(8 * 224 * 224 / (a.height * a.width)))))
    t0 = time.time()

    import safetensors
    import safetensors.torch
    import torch
    import torchvision

    torch.set_num_threads(1)
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)

    model = build(a.arch, a.classes, a.width_mult)
    x = make_images(rng, 2, a.height, a.width)
    calib = make_images(rng, a.calibration_images, a.height, a.width)
    bn_order, head_info = randomize(model, rng, calib)
    xt = nchw(x)

    # The logits must give the two images different top-1s, with margins that
    # f32 rounding cannot flip; otherwise jitter the final bias and retry.
    last = [m for m in model.classifier if isinstance(m, torch.nn.Linear)][-1]
    retries = 0
    while True:
        with torch.no_grad():
            y = model(xt).double().numpy()
        srt = np.sort(y, 1)
        margin = float((srt[:, -1] - srt[:, -2]).min())
        if len(set(y.argmax(1))) == 2 and margin > 0.1:
            break
        retries += 1
        if retries > 200:
            sys.exit("could not make the two test images' top-1 differ")
        with torch.no_grad():
            last.bias.add_(torch.from_numpy(rng.normal(0, 0.5, last.out_features).astype(np.float32)))

    y32, inter = forward_with_intermediates(model, xt)
    y32 = y32.numpy().astype(np.float32)
    m64 = copy.deepcopy(model).double()
    with torch.no_grad():
        y64 = m64(xt.double()).numpy()
    mcl = copy.deepcopy(model).to(memory_format=torch.channels_last)
    with torch.no_grad():
        ycl = mcl(xt.to(memory_format=torch.channels_last)).numpy()
    stats, summary, gate = activation_stats(model, xt)

    os.makedirs(a.out, exist_ok=True)
    sd = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    safetensors.torch.save_file(sd, os.path.join(a.out, "weights.safetensors"))
    os.chmod(os.path.join(a.out, "weights.safetensors"), 0o644)
    np.save(os.path.join(a.out, "input.npy"), x)
    np.save(os.path.join(a.out, "expected_logits.npy"), y32)
    np.save(os.path.join(a.out, "expected_logits_f64.npy"), y64)
    if a.intermediates:
        safetensors.torch.save_file({k: v.float().contiguous() for k, v in inter.items()},
                                    os.path.join(a.out, "intermediates.safetensors"))
        os.chmod(os.path.join(a.out, "intermediates.safetensors"), 0o644)

    modules = dict(model.named_modules())
    bns = [n for n, m in modules.items() if isinstance(m, torch.nn.BatchNorm2d)]
    builder = (f"torchvision.models.{a.arch}(weights=None, num_classes={a.classes}, width_mult={a.width_mult}); "
               "model.eval()" + (" (v3: width_mult reaches _mobilenet_v3_conf through the builder's **kwargs)"
                                 if a.arch.startswith("mobilenet_v3") else ""))
    meta = {
        "generator": "tools/make_torch_fixture.py",
        "argv": sys.argv[1:],
        "versions": {"torch": torch.__version__, "torchvision": torchvision.__version__,
                     "numpy": np.__version__, "safetensors": safetensors.__version__,
                     "python": platform.python_version(), "threads": torch.get_num_threads(),
                     "mkldnn": bool(torch.backends.mkldnn.is_available())},
        "arch": a.arch, "width_mult": a.width_mult, "height": a.height, "width": a.width, "classes": a.classes,
        "seed": a.seed, "batch": 2, "builder": builder,
        "input": {"file": "input.npy", "layout": "NHWC", "shape": list(x.shape), "dtype": "float32",
                  "model_feed": "torch.from_numpy(x).permute(0,3,1,2) (NCHW)",
                  "scaling": "integer pixels p in [0,255] (p = rint(127.5*(tanh(bilinear-upsampled N(0,1) grid "
                             "of (H//8+2)x(W//8+2) + 0.3*N(0,1)) + 1))), x = p/127.5 - 1; NOT torchvision's "
                             "ImageNet mean/std normalisation (irrelevant for random weights)"},
        "outputs": {
            "expected_logits.npy": "f32 [N,K], eager CPU f32, 1 thread(s), contiguous NCHW",
            "expected_logits_f64.npy": "f64 [N,K], same parameters (f32 values) and input, model.double()",
            "top1": [int(v) for v in y32.argmax(1)], "top1_f64": [int(v) for v in y64.argmax(1)],
            "top1_margin_min": margin,
            "max_abs_logit": float(np.abs(y32).max()), "logit_std": float(y32.std()),
            "max_abs_diff_f32_vs_f64": float(np.abs(y32 - y64).max()),
            "max_abs_diff_f32_vs_f32_channels_last": float(np.abs(y32 - ycl).max()),
            "tolerance_hint": "a correct f32 implementation should be within a few x max_abs_diff_f32_vs_f64 of "
                              "expected_logits_f64 (atol ~1e-4*max|logit|)"},
        "weights": {"file": "weights.safetensors", "dtype": "float32, except *.num_batches_tracked int64",
                    "num_tensors": len(sd),
                    "num_params": int(sum(v.numel() for v in sd.values() if v.is_floating_point())),
                    "num_batches_tracked": "included as in a real state_dict: int64 scalars (shape []), value "
                                           f"{int(sd[bns[0] + '.num_batches_tracked'])}; unused in eval mode",
                    "keys_shapes": [[k, list(v.shape)] for k, v in sd.items()],
                    "int64_keys": [k for k, v in sd.items() if not v.is_floating_point()]},
        "init": {
            "rng": "numpy.random.default_rng(seed) for everything; torch.manual_seed(seed) also set",
            "rng_order": "test images, calibration images, parameters in model.named_modules() order, BN "
                         "running-stat noise in execution order, head offsets, classifier-bias retries",
            "conv_weight": "He-normal N(0, sqrt(2/fan_in)), fan_in = (in/groups)*kh*kw",
            "conv_bias": "SE fc1: N(0,0.1); SE fc2 (gate): N(0,1.5)",
            "bn_weight": "U(0.5,1.5) * 2", "bn_bias": "N(0, 0.2)",
            "bn_running_stats": f"calibrated layer by layer in execution order on {a.calibration_images} "
                                "calibration images: running_mean = mean + 0.05*std*N(0,1), running_var = "
                                "var * U(0.8,1.2) (per-channel stats over N,H,W of that BN's actual input)",
            "linear_weight": "N(0, sqrt(1/in)), then head centring below",
            "head": "v3 classifier.0: W *= g so the calibration-centred pre-activation has std 1; b = "
                    "-g*mean_calib(Wf) + N(0,2) (pushes some units past +-3 of the Hardswish); final Linear: W *= g "
                    "so calibration-centred logits have std 4; b = -mean_calib(logits); if the test images share "
                    "top-1 or a top-1/top-2 margin is < 0.1, add N(0,0.5) to the bias and retry",
            "head_info": head_info, "classifier_bias_retries": retries,
            "calibration_images": f"make_images(rng, {a.calibration_images}, H, W) drawn right after the test images"},
        "bn_eps": {n: modules[n].eps for n in bns},
        "bn_eps_values": sorted({modules[n].eps for n in bns}),
        "bn_calibration_order": bn_order,
        "semantics": SEMANTICS,
        "activation_stats_summary": summary,
        "activation_stats": stats,
        "se_gate_stats": gate,
        "blocks": block_summary(model),
        "modules": [describe(n, m) for n, m in model.named_modules() if n],
        "intermediates": ({"file": "intermediates.safetensors", "image": 0,
                           "layout": "CHW (or C) f32, no batch dim",
                           "keys_shapes": [[k, list(v.shape)] for k, v in inter.items()],
                           "note": "outputs of every child of features, of avgpool and of every non-Dropout child "
                                   "of classifier" + ("; v2 has no avgpool module: `avgpool` is "
                                   "F.adaptive_avg_pool2d(features(x), 1) as MobileNetV2.forward computes it"
                                   if not hasattr(model, "avgpool") else "")}
                          if a.intermediates else None),
        "seconds": round(time.time() - t0, 1),
    }
    with open(os.path.join(a.out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(f"{a.out}: {a.arch} {a.width_mult} {a.height}x{a.width} K={a.classes}: {meta['weights']['num_params']:,} "
          f"params, top1 {meta['outputs']['top1']}, |y| max {meta['outputs']['max_abs_logit']:.3f}, "
          f"f32-f64 {meta['outputs']['max_abs_diff_f32_vs_f64']:.2e}, retries {retries}")


if __name__ == "__main__":
    main()
