"""An MLP on scikit-learn's bundled digits, trained twice from the same initial weights: with
torch.nn's modules, and after ``numact.torch.swap`` put numact's in their place.

    python examples/digits_mlp.py [--epochs 300] [--hidden 64] [--dtype float32]

Prints the loss of both runs as they train and the held-out accuracy of each; in float64 the
two runs' losses agree to about 1e-15 relative at every step.
"""

import argparse
import copy

import torch
from sklearn.datasets import load_digits

import numact.torch as nt


def make_model(hidden: int) -> torch.nn.Module:
    return torch.nn.Sequential(
        torch.nn.Linear(64, hidden), torch.nn.GELU(),
        torch.nn.Linear(hidden, hidden), torch.nn.ELU(),
        torch.nn.Linear(hidden, 10),
    )


def train(model, loss_fn, x, y, epochs: int, lr: float) -> list[float]:
    """Full-batch SGD with momentum; the loss of every step."""
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    losses = []
    for _ in range(epochs):
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def accuracy(model, x, y) -> float:
    with torch.no_grad():
        return (model(x).argmax(dim=1) == y).double().mean().item()


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    args = parser.parse_args(argv)
    dtype = getattr(torch, args.dtype)

    digits = load_digits()
    x = torch.tensor(digits.data / 16.0, dtype=dtype)
    y = torch.tensor(digits.target)
    train_x, test_x, train_y, test_y = x[:1500], x[1500:], y[:1500], y[1500:]

    torch.manual_seed(0)
    torch_model = make_model(args.hidden).to(dtype)
    numact_model = copy.deepcopy(torch_model)
    swapped = nt.swap(numact_model)
    print(f"numact.torch.swap replaced {swapped} modules: {numact_model}")

    torch_losses = train(torch_model, torch.nn.CrossEntropyLoss(), train_x, train_y, args.epochs, args.lr)
    numact_losses = train(numact_model, nt.nn.CrossEntropyLoss(), train_x, train_y, args.epochs, args.lr)
    for step in sorted({0, args.epochs // 4, args.epochs // 2, args.epochs - 1}):
        print(f"step {step:4d}: loss with torch.nn {torch_losses[step]:.6f}, with numact.torch {numact_losses[step]:.6f}")
    worst = max(abs(a - b) / abs(b) for a, b in zip(numact_losses, torch_losses))
    result = {
        "torch_losses": torch_losses, "numact_losses": numact_losses, "largest_relative_difference": worst,
        "torch_accuracy": accuracy(torch_model, test_x, test_y),
        "numact_accuracy": accuracy(numact_model, test_x, test_y),
    }
    print(f"largest relative difference of the losses: {worst:.2e}")
    print(f"held-out accuracy: torch.nn {result['torch_accuracy']:.3f}, numact.torch {result['numact_accuracy']:.3f}")
    return result


if __name__ == "__main__":
    main()
