"""The image encoders' building blocks."""
import torch
from torch import nn

from shared.models.vision import ConvNet, MaxPool2x2


def test_max_pool_without_autograd_is_torchs_bit_for_bit():
    gen = torch.Generator().manual_seed(0)
    for shape in [(3, 4, 8, 8), (2, 3, 7, 9), (1, 1, 2, 2)]:  # odd sizes drop the last row/column, as torch does
        x = torch.relu(torch.randn(shape, generator=gen))  # ReLU's zeros make ties
        x[0, 0, 0, 0] = float("nan")
        x[0, 0, 0, 1] = float("inf")
        with torch.no_grad():
            assert torch.equal(MaxPool2x2()(x).isnan(), nn.MaxPool2d(2)(x).isnan())
            assert torch.equal(MaxPool2x2()(x).nan_to_num(), nn.MaxPool2d(2)(x).nan_to_num())


def test_max_pool_with_autograd_sends_a_tie_s_gradient_to_the_first_maximum_as_torch_does():
    x = torch.tensor([[[[1.0, 1.0], [0.5, 1.0]]]], requires_grad=True)  # a three-way tie
    MaxPool2x2()(x).sum().backward()
    assert x.grad.flatten().tolist() == [1.0, 0.0, 0.0, 0.0]


def test_convnet_features_are_the_same_with_and_without_autograd():
    torch.manual_seed(0)
    net = ConvNet(width=4).eval()
    x = torch.rand(2, 3, 32, 32, requires_grad=True)
    with torch.no_grad():
        fast = net(x)
    assert torch.equal(fast, net(x).detach())
