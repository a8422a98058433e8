#!/usr/bin/env python3
"""The PyTorch half of the GPU check (bench/gpu-check.sh runs it; docs/gpu.md).

    python3 bench/gpu-torch.py --out DIR

Reads DIR/vggc.json (written by `node dist/bench/gpu.js bench`): for every case the layers, input
shape, batch, and for training cases the SGD settings. Runs the same work with cuDNN:

- fp32 with TF32 off (torch.backends.cuda.matmul.allow_tf32 and cudnn.allow_tf32 False);
- fp16: forward with model and input in half precision; training under torch.autocast(float16)
  with a GradScaler (the usual mixed-precision step: fp16 arithmetic, fp32 weights).

cudnn.benchmark is on (cuDNN picks its fastest algorithms during warm-up). Each case: warm-up,
then per pass or step a pair of CUDA events; the median and minimum over the timed runs. Writes
DIR/torch.json. Without torch or without CUDA it writes {"skipped": why} and exits 0, so the rest
of the check still runs.
"""

import argparse
import json
import os
import statistics
import sys


def write_atomic(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


def build(torch, layers, classes):
    nn = torch.nn
    mods = []
    for layer in layers:
        op = layer["op"]
        if op == "conv":
            mods.append(nn.Conv2d(layer["cin"], layer["cout"], layer["kernel"], padding=layer["pad"]))
        elif op == "relu":
            mods.append(nn.ReLU(inplace=True))
        elif op == "maxpool":
            mods.append(nn.MaxPool2d(2, 2))
        elif op == "fc":
            if not any(isinstance(m, nn.Flatten) for m in mods):
                mods.append(nn.Flatten())
            mods.append(nn.Linear(layer["in"], layer["units"]))
        elif op == "dropout":
            mods.append(nn.Dropout(layer["p"]))
        elif op == "lrn":
            mods.append(nn.LocalResponseNorm(layer["n"], layer["alpha"], layer["beta"], layer["k"]))
        else:
            raise ValueError(f"unknown layer {op}")
    return nn.Sequential(*mods)


def timed(torch, fn, warmup, runs):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(runs):
        a = torch.cuda.Event(enable_timing=True)
        b = torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b))
    return {"ms": round(statistics.median(times), 4), "minMs": round(min(times), 4), "timesMs": [round(t, 4) for t in times]}


def run_case(torch, case, precision, runs):
    dev = torch.device("cuda")
    torch.manual_seed(1)
    model = build(torch, case["layers"], case["classes"]).to(dev)
    c, h, w = case["input"]
    n = case["batch"]
    x = torch.rand(n, c, h, w, device=dev) - 0.5
    if case["mode"] == "forward":
        model.eval()
        if precision == "fp16":
            model = model.half()
            x = x.half()
        with torch.inference_mode():
            y = model(x)
            if not torch.isfinite(y).all():
                raise RuntimeError("non-finite output")
            return timed(torch, lambda: model(x), 5, runs)
    hyper = case["hyper"]
    labels = torch.arange(n, device=dev) * 7 % case["classes"]
    opt = torch.optim.SGD(model.parameters(), lr=hyper["lr"], momentum=hyper["momentum"], weight_decay=hyper["weightDecay"])
    loss_fn = torch.nn.CrossEntropyLoss()
    model.train()
    if precision == "fp32":

        def step():
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), labels)
            loss.backward()
            opt.step()
            return loss

    else:
        scaler = torch.amp.GradScaler("cuda")

        def step():
            opt.zero_grad(set_to_none=True)
            with torch.autocast("cuda", dtype=torch.float16):
                loss = loss_fn(model(x), labels)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            return loss

    loss = step()
    if not torch.isfinite(loss):
        raise RuntimeError("non-finite loss")
    return timed(torch, step, 5, runs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args()
    out = os.path.join(args.out, "torch.json")
    try:
        import torch
    except ImportError as e:
        write_atomic(out, {"skipped": f"no PyTorch ({e})"})
        print(f"PyTorch: skipped: no PyTorch ({e})")
        return
    if not torch.cuda.is_available():
        write_atomic(out, {"skipped": f"PyTorch {torch.__version__} sees no CUDA device"})
        print(f"PyTorch: skipped: torch {torch.__version__} sees no CUDA device")
        return
    with open(os.path.join(args.out, "vggc.json")) as f:
        cases = json.load(f)["cases"]
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = True
    results = []
    name = torch.cuda.get_device_name()
    print(f"PyTorch {torch.__version__}, cuDNN {torch.backends.cudnn.version()}, {name}")
    for case in cases:
        r = {"key": case["key"]}
        for precision in ("fp32", "fp16"):
            try:
                r[precision] = run_case(torch, case, precision, args.runs)
                print(f"  {case['title']:<36} {precision} {r[precision]['ms']:10.3f} ms (min {r[precision]['minMs']})")
            except Exception as e:  # one failing case must not stop the others
                r[precision + "Error"] = str(e).split("\n")[0]
                print(f"  {case['title']:<36} {precision} FAILED: {r[precision + 'Error']}")
            torch.cuda.empty_cache()
        results.append(r)
    write_atomic(
        out,
        {
            "torch": torch.__version__,
            "cudnn": torch.backends.cudnn.version(),
            "device": name,
            "tf32": False,
            "cases": results,
        },
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    sys.exit(main())
