"""onnxruntime's own forward pass of an ONNX image classifier (CPU), the yardstick `glassbox bench --ort-python`
compares glassbox's engines with. Prints a JSON list: milliseconds per image of each timed pass, at the graph's
batch (a dynamic batch axis runs at 1), after one untimed warm-up pass.

Usage: python ort_forward_bench.py MODEL.onnx [--passes N] [--threads T]"""
import argparse
import json
import time

import numpy as np
import onnxruntime as ort

parser = argparse.ArgumentParser()
parser.add_argument("model")
parser.add_argument("--passes", type=int, default=5)
parser.add_argument("--threads", type=int, default=1, help="intra-op threads (glassbox --threads)")
args = parser.parse_args()

options = ort.SessionOptions()
options.intra_op_num_threads = args.threads
options.inter_op_num_threads = 1
session = ort.InferenceSession(args.model, options, providers=["CPUExecutionProvider"])
inp = session.get_inputs()[0]
shape = [d if isinstance(d, int) else 1 for d in inp.shape]
x = np.zeros(shape, dtype=np.float32)
session.run(None, {inp.name: x})
per_image_ms = []
for _ in range(args.passes):
    started = time.perf_counter()
    session.run(None, {inp.name: x})
    per_image_ms.append((time.perf_counter() - started) * 1e3 / shape[0])
print(json.dumps(per_image_ms))
