#!/usr/bin/python3
"""Makes the ONNX fixtures of test/onnx.*.test.ts (test/fixtures/onnx/): tiny VGG-style nets with
random weights, one input batch each, and the outputs PyTorch computes for them.

Debian bookworm: apt-get install python3-torch python3-torchvision python3-onnx (torch 1.13,
onnx 1.12). The tests read the files this writes and never run Python.

  /usr/bin/python3 scripts/make-onnx-fixtures.py   (Debian's python, where apt puts torch)

Fixtures (NAME.onnx, NAME.input.npy, NAME.output.npy):
- tv-static:   torchvision's VGG layout (features / avgpool / classifier, the avgpool an
               AdaptiveAvgPool2d to the last map's size, as VGG-16 at 224), 3x32x32, fixed batch 2,
               torch.onnx.export at opset 13, eval mode (no Dropout nodes).
- tv-dynamic:  the same layout on 1x28x28 with a 1x1 conv, dynamic batch axis, opset 17,
               Dropout nodes kept (exported in training mode, then switched to inference) and a final softmax,
               flattened with x.view(x.size(0), -1) (a Reshape fed by Shape/Gather/Concat).
- tv-opset9:   the 3x32x32 net at opset 9 (Gemm from Linear, Flatten).
- zoo:         the ONNX model zoo's MXNet form built with onnx.helper: opset 7, input 'data',
               every initializer also a graph input, LRN, Dropout with a ratio attribute,
               Flatten, Gemm with transB=0 for one FC and MatMul + Add for the other, Softmax.
"""
import os

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures', 'onnx')


def vgg(cfg, cin, side, fc, classes, dropout=0.5, lrn=False):
    layers = []
    c = cin
    for v in cfg:
        if v == 'M':
            layers.append(nn.MaxPool2d(2, 2))
            side //= 2
        else:
            k, cout = v
            layers += [nn.Conv2d(c, cout, k, padding=(k - 1) // 2), nn.ReLU(inplace=True)]
            c = cout
    m = nn.Module()
    m.features = nn.Sequential(*layers)
    m.avgpool = nn.AdaptiveAvgPool2d((side, side))
    m.classifier = nn.Sequential(
        nn.Linear(c * side * side, fc), nn.ReLU(True), nn.Dropout(dropout),
        nn.Linear(fc, fc), nn.ReLU(True), nn.Dropout(dropout),
        nn.Linear(fc, classes))
    return m


class TV(nn.Module):
    def __init__(self, body, view=False, softmax=False):
        super().__init__()
        self.features, self.avgpool, self.classifier = body.features, body.avgpool, body.classifier
        self.view, self.softmax = view, softmax

    def forward(self, x):
        x = self.avgpool(self.features(x))
        x = x.view(x.size(0), -1) if self.view else torch.flatten(x, 1)
        x = self.classifier(x)
        return torch.softmax(x, 1) if self.softmax else x


def randomize(m, gen):
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * (2.0 / max(1, p[0].numel())) ** 0.5)


def save(name, x, y):
    np.save(os.path.join(OUT, name + '.input.npy'), x.astype(np.float32))
    np.save(os.path.join(OUT, name + '.output.npy'), y.astype(np.float32))


def torch_fixture(name, model, shape, opset, dynamic, train_dropout=False):
    gen = torch.Generator().manual_seed(sum(map(ord, name)))
    randomize(model, gen)
    model.eval()
    x = torch.rand(shape, generator=gen)
    path = os.path.join(OUT, name + '.onnx')
    kwargs = dict(input_names=['input'], output_names=['output'], opset_version=opset)
    if dynamic:
        kwargs['dynamic_axes'] = {'input': {0: 'batch'}, 'output': {0: 'batch'}}
    if train_dropout:
        # Keeps the Dropout nodes (as a model exported for training does): export in training
        # mode, then set each Dropout's training_mode input to false so it is an identity.
        model.train()
        kwargs['training'] = torch.onnx.TrainingMode.TRAINING
        kwargs['do_constant_folding'] = False
    torch.onnx.export(model, x, path, **kwargs)
    model.eval()
    if train_dropout:
        m = onnx.load(path)
        off = numpy_helper.from_array(np.array(False), 'dropout_training_mode_off')
        m.graph.initializer.append(off)
        for n in m.graph.node:
            if n.op_type == 'Dropout':
                assert len(n.input) == 3, n
                n.input[2] = off.name
        onnx.save(m, path)
    with torch.no_grad():
        y = model(x)
    onnx.checker.check_model(onnx.load(path), full_check=True)
    save(name, x.numpy(), y.numpy())


def zoo_fixture():
    rng = np.random.default_rng(7)
    cin, side, classes = 3, 16, 5
    inits, nodes = [], []

    def param(name, shape):
        fan = int(np.prod(shape[1:])) if len(shape) > 1 else 1
        a = (rng.standard_normal(shape) * (2.0 / fan) ** 0.5).astype(np.float32)
        inits.append(numpy_helper.from_array(a, name))
        return a

    w0, b0 = param('vgg0_conv0_weight', (8, 3, 3, 3)), param('vgg0_conv0_bias', (8,))
    nodes += [
        helper.make_node('Conv', ['data', 'vgg0_conv0_weight', 'vgg0_conv0_bias'], ['c0'],
                         name='vgg0_conv0_fwd', kernel_shape=[3, 3], pads=[1, 1, 1, 1],
                         strides=[1, 1], dilations=[1, 1], group=1),
        helper.make_node('Relu', ['c0'], ['r0'], name='vgg0_relu0_fwd'),
        helper.make_node('LRN', ['r0'], ['n0'], name='vgg0_lrn0_fwd', size=5, alpha=5e-4,
                         beta=0.75, bias=2.0),
        helper.make_node('MaxPool', ['n0'], ['p0'], name='vgg0_pool0_fwd', kernel_shape=[2, 2],
                         strides=[2, 2], pads=[0, 0, 0, 0]),
    ]
    w1, b1 = param('vgg0_conv1_weight', (16, 8, 3, 3)), param('vgg0_conv1_bias', (16,))
    nodes += [
        helper.make_node('Conv', ['p0', 'vgg0_conv1_weight', 'vgg0_conv1_bias'], ['c1'],
                         name='vgg0_conv1_fwd', kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node('Relu', ['c1'], ['r1'], name='vgg0_relu1_fwd'),
        helper.make_node('MaxPool', ['r1'], ['p1'], name='vgg0_pool1_fwd', kernel_shape=[2, 2],
                         strides=[2, 2]),
        helper.make_node('Flatten', ['p1'], ['f'], name='vgg0_flatten0_flatten0'),
    ]
    fan = 16 * 4 * 4
    # Gemm with transB=0: B is [in, out].
    w2, b2 = param('vgg0_dense0_weight', (fan, 32)), param('vgg0_dense0_bias', (32,))
    nodes += [
        helper.make_node('Gemm', ['f', 'vgg0_dense0_weight', 'vgg0_dense0_bias'], ['d0'],
                         name='vgg0_dense0_fwd', alpha=1.0, beta=1.0, transA=0, transB=0),
        helper.make_node('Relu', ['d0'], ['dr0'], name='vgg0_dense0_relu_fwd'),
        helper.make_node('Dropout', ['dr0'], ['dd0'], name='vgg0_dropout0_fwd', ratio=0.5),
    ]
    # MatMul + Add: B is [in, out].
    w3, b3 = param('vgg0_dense1_weight', (32, classes)), param('vgg0_dense1_bias', (classes,))
    nodes += [
        helper.make_node('MatMul', ['dd0', 'vgg0_dense1_weight'], ['m1'], name='vgg0_dense1_mm'),
        helper.make_node('Add', ['m1', 'vgg0_dense1_bias'], ['d1'], name='vgg0_dense1_add'),
        helper.make_node('Softmax', ['d1'], ['prob'], name='vgg0_softmax0', axis=1),
    ]
    inputs = [helper.make_tensor_value_info('data', TensorProto.FLOAT, [1, cin, side, side])]
    inputs += [helper.make_tensor_value_info(t.name, TensorProto.FLOAT, list(t.dims)) for t in inits]
    graph = helper.make_graph(nodes, 'vgg_zoo_like', inputs,
                              [helper.make_tensor_value_info('prob', TensorProto.FLOAT, [1, classes])],
                              initializer=inits)
    model = helper.make_model(graph, producer_name='mxnet-like', opset_imports=[helper.make_opsetid('', 7)])
    model.ir_version = 3
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, os.path.join(OUT, 'zoo.onnx'))

    # The expected output from PyTorch's ops on the same weights (ONNX's LRN is PyTorch's).
    x = rng.random((1, cin, side, side)).astype(np.float32)
    t = torch.from_numpy
    with torch.no_grad():
        y = torch.relu(nn.functional.conv2d(t(x), t(w0), t(b0), padding=1))
        y = nn.functional.local_response_norm(y, 5, alpha=5e-4, beta=0.75, k=2.0)
        y = nn.functional.max_pool2d(y, 2, 2)
        y = nn.functional.max_pool2d(torch.relu(nn.functional.conv2d(y, t(w1), t(b1), padding=1)), 2, 2)
        y = torch.relu(torch.flatten(y, 1) @ t(w2) + t(b2))
        y = torch.softmax(y @ t(w3) + t(b3), 1)
    save('zoo', x, y.numpy())


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    small = [(3, 8), (3, 8), 'M', (3, 16), (3, 16), 'M', (3, 16), 'M']
    torch_fixture('tv-static', TV(vgg(small, 3, 32, 32, 10)), (2, 3, 32, 32), 13, False)
    torch_fixture('tv-opset9', TV(vgg(small, 3, 32, 32, 10)), (2, 3, 32, 32), 9, False)
    mnistish = [(3, 8), 'M', (1, 12), (3, 16), 'M']
    torch_fixture('tv-dynamic', TV(vgg(mnistish, 1, 28, 24, 10), view=True, softmax=True),
                  (3, 1, 28, 28), 17, True, train_dropout=True)
    zoo_fixture()


if __name__ == '__main__':
    main()
