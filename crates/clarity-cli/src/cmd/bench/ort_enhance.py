"""ONNX Runtime baseline for `clarity bench enhance` (run by it; not a project dependency).

Builds the same EnhanceNet graph as clarity-models from model.safetensors + config.json
(head conv + ReLU, body convs + ReLU, tail conv, plus the centre input channel), checks it
against clarity's output on the same input, and times it on CPU.

usage: ort_enhance.py MODEL_DIR INPUT.f32 CLARITY_OUT.f32 B C H W REPEATS THREADS
prints one JSON line: {"median_s": ..., "max_abs_diff": ..., "ort": "<version>"}
"""
import json
import sys
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from safetensors.numpy import load_file


def build(weights, cfg):
    nodes, inits = [], []
    names = ["head"] + [f"body.{i}" for i in range(cfg["depth"] - 2)] + ["tail"]
    # Tap spacing per layer (absent or empty: plain 3x3 convolutions); padding = spacing keeps
    # the size.
    dilations = cfg.get("dilations") or [1] * len(names)
    prev = "x"
    for n, name in enumerate(names):
        d = int(dilations[n])
        w, b = weights[f"{name}.weight"].astype(np.float32), weights[f"{name}.bias"].astype(np.float32)
        inits += [numpy_helper.from_array(w, f"{name}.weight"), numpy_helper.from_array(b, f"{name}.bias")]
        out = f"{name}.conv"
        nodes.append(helper.make_node("Conv", [prev, f"{name}.weight", f"{name}.bias"], [out],
                                      kernel_shape=[3, 3], pads=[d, d, d, d],
                                      dilations=[d, d]))
        if name != "tail":
            nodes.append(helper.make_node("Relu", [out], [f"{name}.relu"]))
            out = f"{name}.relu"
        prev = out
    c = cfg["context"]
    # The slab, then the noise-level and reduction planes when the network takes them.
    in_channels = (2 * c + 1 + int(cfg.get("noise_channel", False))
                   + int(cfg.get("reduction_channel", False)))
    for arr, nm in [([c], "starts"), ([c + 1], "ends"), ([1], "axes")]:
        inits.append(numpy_helper.from_array(np.array(arr, dtype=np.int64), nm))
    nodes.append(helper.make_node("Slice", ["x", "starts", "ends", "axes"], ["centre"]))
    nodes.append(helper.make_node("Add", ["centre", prev], ["y"]))
    graph = helper.make_graph(
        nodes, "enhance_net",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", in_channels, "h", "w"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["b", 1, "h", "w"])],
        inits)
    # IR 9 (ONNX 1.15): new onnx packages write a newer IR than released runtimes accept.
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
    onnx.checker.check_model(model)
    return model


def main():
    model_dir, inp, ref = sys.argv[1:4]
    b, c, h, w, repeats, threads = map(int, sys.argv[4:10])
    cfg = json.load(open(f"{model_dir}/config.json"))
    model = build(load_file(f"{model_dir}/model.safetensors"), cfg)
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    x = np.fromfile(inp, dtype="<f4").reshape(b, c, h, w)
    y_ref = np.fromfile(ref, dtype="<f4").reshape(b, 1, h, w)
    y = sess.run(None, {"x": x})[0]
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        sess.run(None, {"x": x})
        times.append(time.perf_counter() - t)
    print(json.dumps({"median_s": float(np.median(times)),
                      "max_abs_diff": float(np.abs(y - y_ref).max()),
                      "ort": ort.__version__}))


if __name__ == "__main__":
    main()
