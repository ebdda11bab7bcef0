#!/usr/bin/env python3
"""Export PyTorch/torchvision MobileNet weights to safetensors for mobilenet-rs.

setup (once; see tools/requirements-torch.txt):
    python3 -m venv tools/.venv-torch
    tools/.venv-torch/bin/pip install -r tools/requirements-torch.txt

usage:
    tools/.venv-torch/bin/python tools/export_torch_weights.py model.pth out.safetensors
    tools/.venv-torch/bin/python tools/export_torch_weights.py model.pth out.safetensors \\
        --arch mobilenet_v2 [--width-mult 1.0] [--classes 1000]

model.pth may be in torch's zip format (torch.save's default since 1.6) or
the legacy pickle format (`_use_new_zipfile_serialization=False`); it may
hold
  * a state_dict (name -> tensor), as torchvision's own .pth files do,
  * a checkpoint dict with the state_dict under 'state_dict' or 'model'
    (or 'model_state_dict', 'net'), as training scripts write,
  * a whole pickled nn.Module (`torch.save(model, ...)`). Unpickling a
    module runs code from the file, so it needs torch.load(weights_only=False)
    and the module's class importable: this tool first tries the safe
    weights_only=True and only falls back (with a message) if that fails;
    pass --no-unsafe to refuse the fallback.
A leading `module.` prefix (from nn.DataParallel / DistributedDataParallel)
is stripped from every name.

The output holds the tensors under their torchvision state_dict names and
layouts (conv [out, in/groups, kh, kw], Linear [out, in], BatchNorm weight,
bias, running_mean, running_var), as float32, contiguous; the int64
`*.num_batches_tracked` are kept as they are.

--arch (mobilenet_v2, mobilenet_v3_large, mobilenet_v3_small) checks the
names and shapes against torchvision.models.<arch>(weights=None,
num_classes=K, width_mult=W) before writing (K defaults to the classifier's
output size found in the file).

From Python, with an nn.Module in hand:
    import sys; sys.path.insert(0, "tools")
    from export_torch_weights import export_module
    export_module(model, "out.safetensors")
"""

import argparse
import os
import sys

ARCHS = ("mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small")
NESTED_KEYS = ("state_dict", "model", "model_state_dict", "net")


def _torch():
    import torch

    return torch


def clean_state_dict(sd):
    """name -> contiguous CPU tensor: float32 for floating tensors, int64
    num_batches_tracked (and any other integer tensor) unchanged, a leading
    `module.` stripped."""
    torch = _torch()
    out = {}
    for name, t in sd.items():
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name}: not a tensor ({type(t).__name__})")
        if name.startswith("module."):
            name = name[len("module."):]
        if name in out:
            raise ValueError(f"duplicate tensor name {name} after stripping 'module.'")
        t = t.detach().cpu()
        if t.is_floating_point():
            t = t.to(torch.float32)
        out[name] = t.contiguous().clone()
    return out


def save(tensors, path):
    from safetensors.torch import save_file

    save_file(tensors, path)


def export_module(module, path):
    """Write `module.state_dict()` to `path` (safetensors) as the command
    line does; returns the dict written."""
    tensors = clean_state_dict(module.state_dict())
    save(tensors, path)
    return tensors


def load_state_dict(path, allow_unsafe=True):
    """The state_dict in a .pth file (zip or legacy format), whatever of the
    supported shapes it holds. Returns (state_dict, description)."""
    torch = _torch()
    if not os.path.isfile(path):
        raise SystemExit(f"{path}: no such file")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
        how = "weights_only=True"
    except Exception as e:  # a pickled nn.Module, or other non-tensor objects
        reason = str(e).split(".")[0].splitlines()[0]
        if not allow_unsafe:
            raise SystemExit(f"{path}: torch.load(weights_only=True) refused it ({reason}); "
                             "rerun without --no-unsafe if you trust the file")
        print(f"note: {path} is not a plain state_dict (torch.load(weights_only=True) failed: "
              f"{reason}).\n"
              "      Probably a pickled nn.Module: loading it with weights_only=False, which runs code from "
              "the file (only do this with files you trust) and needs the module's class importable "
              "(torchvision's are).", file=sys.stderr)
        obj = torch.load(path, map_location="cpu", weights_only=False)
        how = "weights_only=False"
    return extract(obj, how)


def extract(obj, how=""):
    torch = _torch()
    if isinstance(obj, torch.nn.Module):
        return obj.state_dict(), f"pickled {type(obj).__name__} module ({how})"
    if isinstance(obj, dict):
        if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
            return obj, f"state_dict ({how})"
        for key in NESTED_KEYS:
            if key in obj:
                sd, desc = extract(obj[key], how)
                return sd, f"checkpoint['{key}']: {desc}"
        raise SystemExit(f"no state_dict found: a dict with keys {sorted(obj)[:20]}; "
                         f"expected tensors or one of {NESTED_KEYS}")
    raise SystemExit(f"no state_dict found in a {type(obj).__name__}")


def check_arch(tensors, arch, width_mult, classes):
    import torchvision

    if classes is None:
        linears = [k for k in tensors if k.startswith("classifier.") and k.endswith(".weight")]
        classes = tensors[sorted(linears, key=lambda k: int(k.split(".")[1]))[-1]].shape[0]
    ref = getattr(torchvision.models, arch)(weights=None, num_classes=classes, width_mult=width_mult).state_dict()
    missing = [k for k in ref if k not in tensors]
    extra = [k for k in tensors if k not in ref]
    bad = [(k, list(tensors[k].shape), list(ref[k].shape)) for k in ref if k in tensors
           and tuple(tensors[k].shape) != tuple(ref[k].shape)]
    if missing or extra or bad:
        msg = [f"does not match torchvision.models.{arch}(num_classes={classes}, width_mult={width_mult}):"]
        if missing:
            msg.append(f"  missing ({len(missing)}): {missing[:10]}")
        if extra:
            msg.append(f"  unexpected ({len(extra)}): {extra[:10]}")
        for k, got, want in bad[:10]:
            msg.append(f"  {k}: shape {got}, expected {want}")
        raise SystemExit("\n".join(msg))
    return classes


def main():
    p = argparse.ArgumentParser(description="Export a PyTorch .pth to safetensors (see the module docstring).")
    p.add_argument("pth")
    p.add_argument("out")
    p.add_argument("--arch", choices=ARCHS, help="check names and shapes against this torchvision model")
    p.add_argument("--width-mult", type=float, default=1.0)
    p.add_argument("--classes", type=int, default=None)
    p.add_argument("--no-unsafe", action="store_true", help="never unpickle with weights_only=False")
    a = p.parse_args()

    sd, desc = load_state_dict(a.pth, allow_unsafe=not a.no_unsafe)
    tensors = clean_state_dict(sd)
    if a.arch:
        k = check_arch(tensors, a.arch, a.width_mult, a.classes)
        desc += f"; matches torchvision {a.arch}(width_mult={a.width_mult}, num_classes={k})"
    save(tensors, a.out)
    n = sum(t.numel() for t in tensors.values() if t.is_floating_point())
    print(f"{a.out}: {len(tensors)} tensors, {n:,} float32 values, from {desc}")


if __name__ == "__main__":
    main()
