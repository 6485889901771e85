"""A SIREN (Sitzmann et al., 2020: sine networks) fitting a 1-D signal with
``numact.torch.nn.Sine``, and the network's derivative against the signal's.

    python examples/siren.py [--steps 1000] [--out siren.png]

The network is Linear → Sine(w0) → Linear → Sine(w0) → Linear → Sine(w0) → Linear, w0 = 30, with
the paper's initialisation: the first layer's weights uniform in ±1/fan_in, the others' in
±√(6/fan_in)/w0. It is trained on the signal alone; its derivative, d network/dx by autograd
(numact's sine backward), follows the signal's derivative, which is what the paper shows of
sine networks. Both are plotted.
"""

import argparse
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

import numact.torch as nt  # noqa: E402

W0 = 30.0


def signal(x):
    """A signal with detail at several scales, and its derivative."""
    f = torch.sin(3 * math.pi * x) * torch.exp(-2 * x**2) + 0.3 * torch.sin(11 * math.pi * x)
    df = (3 * math.pi * torch.cos(3 * math.pi * x) - 4 * x * torch.sin(3 * math.pi * x)) * torch.exp(-2 * x**2) \
        + 3.3 * math.pi * torch.cos(11 * math.pi * x)
    return f, df


def siren(hidden: int = 64, layers: int = 3, w0: float = W0) -> torch.nn.Sequential:
    modules, fan_in = [], 1
    for i in range(layers):
        linear = torch.nn.Linear(fan_in, hidden)
        bound = 1 / fan_in if i == 0 else math.sqrt(6 / fan_in) / w0
        torch.nn.init.uniform_(linear.weight, -bound, bound)
        modules += [linear, nt.nn.Sine(w0)]
        fan_in = hidden
    last = torch.nn.Linear(hidden, 1)
    torch.nn.init.uniform_(last.weight, -math.sqrt(6 / hidden) / w0, math.sqrt(6 / hidden) / w0)
    return torch.nn.Sequential(*modules, last)


def derivative(model, x):
    x = x.clone().requires_grad_(True)
    y = model(x)
    (dy,) = torch.autograd.grad(y.sum(), x)
    return y.detach(), dy


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--points", type=int, default=512)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--out", default="siren.png", help="the figure (PNG); '' for none")
    args = parser.parse_args(argv)

    torch.manual_seed(0)
    x = torch.linspace(-1, 1, args.points).unsqueeze(1)
    f, df = signal(x)
    model = siren(args.hidden)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    losses = []
    for step in range(args.steps):
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), f)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if step % max(1, args.steps // 5) == 0 or step == args.steps - 1:
            print(f"step {step:5d}: mse {loss.item():.3e}")

    y, dy = derivative(model, x)
    relative = lambda ours, truth: (torch.linalg.norm(ours - truth) / torch.linalg.norm(truth)).item()  # noqa: E731
    result = {"losses": losses, "signal_error": relative(y, f), "derivative_error": relative(dy, df)}
    print(f"relative error of the fit {result['signal_error']:.2e}, of its derivative {result['derivative_error']:.2e}")
    if args.out:
        fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.4), layout="constrained")
        left.plot(x, f, "k", lw=1, label="signal")
        left.plot(x, y, "C3--", lw=1.5, label="SIREN")
        right.plot(x, df, "k", lw=1, label="signal's derivative")
        right.plot(x, dy, "C3--", lw=1.5, label="d SIREN / dx (autograd through numact's sine)")
        left.set_title(f"fit after {args.steps} steps (relative error {result['signal_error']:.1e})", fontsize=9)
        right.set_title(f"its derivative, never trained on (relative error {result['derivative_error']:.1e})", fontsize=9)
        for ax in (left, right):
            ax.legend(fontsize=8)
            ax.set_xlabel("x")
        fig.savefig(args.out, dpi=90)
        print(f"wrote {args.out}")
    return result


if __name__ == "__main__":
    main()
