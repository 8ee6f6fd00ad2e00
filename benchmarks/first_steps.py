"""How fast a network starts learning at the `gpu` profile's recipe: validation and training accuracy after each
of its first epochs (15,000 Fashion-MNIST images, batch 512, cosine over the profile's 18 teacher epochs).

    python benchmarks/first_steps.py LR WEIGHT_DECAY EPOCHS [ARCH]      # one JSON line

Made after the first H200 run, whose resnet56 teachers did not train; it runs on the CPU (fp32), a few
minutes per configuration. Its output on the 2-core development machine is in
benchmarks/results/first_steps_cpu.jsonl; the comment above GPU_COMMON in kdcore/chapters.py reads it.
"""

import json
import sys
import time

import torch

from kdcore import experiment
from kdcore.fit import fit
from kdcore.objectives import CrossEntropy
from kdcore.params import resolve

lr, weight_decay, epochs = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
arch = sys.argv[4] if len(sys.argv) > 4 else "resnet56"
P = resolve("kd_basics", "gpu", device="cpu", allow_cpu=True, lr=lr, weight_decay=weight_decay)
bench = experiment.prepare(P)
torch.manual_seed(0)
model = bench.build(arch)
config = experiment.train_config(P, P.teacher_epochs, seed=0)
started = time.time()
history = fit(CrossEntropy(model), bench.train, config, bench.val, stop_after=epochs, progress=False)
row = {"arch": arch, "lr": lr, "wd": weight_decay, "steps_per_epoch": len(bench.train),
       "val": [round(h["val_acc"], 3) for h in history], "train": [round(h["train_acc"], 3) for h in history],
       "s": round(time.time() - started)}  # fmt: skip
print(json.dumps(row), flush=True)
