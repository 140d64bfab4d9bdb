"""Median seconds of one onnxruntime (CPU) forward pass of an ONNX image classifier, batch 1 (the yardstick
`glassbox bench --ort-python` compares tract with). Usage: python ort_forward_bench.py MODEL.onnx [REPEATS]"""
import sys
import time

import numpy as np
import onnxruntime as ort

session = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 5
inp = session.get_inputs()[0]
shape = [1 if not isinstance(d, int) else d for d in inp.shape]
x = np.zeros(shape, dtype=np.float32)
session.run(None, {inp.name: x})  # warm-up
times = []
for _ in range(repeats):
    t = time.perf_counter()
    session.run(None, {inp.name: x})
    times.append(time.perf_counter() - t)
print(sorted(times)[len(times) // 2])
