"""The learning-rate schedules a course plots: StepLR, a linear warm-up into cosine annealing through
SequentialLR, and OneCycleLR, each stepped inside a small training loop and printed with get_last_lr()."""

# ruff: noqa: N801, N803, N806 - the tutorial's own names (X, F, DataLoader, Mnist_CNN) are kept


def main(torch):
    nn = torch.nn
    lr_scheduler = torch.optim.lr_scheduler

    torch.manual_seed(0)
    X = torch.randn(64, 4)
    y = X @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]]) + 0.1 * torch.randn(64, 1)
    out = []

    def run(name, make_scheduler, epochs, per_batch=False):
        torch.manual_seed(1)
        model = nn.Linear(4, 1)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        scheduler = make_scheduler(optimizer)
        loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, y), batch_size=16)
        for epoch in range(epochs):
            for xb, yb in loader:
                loss = nn.functional.mse_loss(model(xb), yb)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                if per_batch:
                    scheduler.step()
            if not per_batch:
                scheduler.step()
            out.append(f"lr {name} {epoch} {scheduler.get_last_lr()}")
            out.append(f"{name} {epoch} loss {loss.item():.6f}")

    run("step", lambda opt: lr_scheduler.StepLR(opt, step_size=3, gamma=0.5), 8)
    run("warmup-cosine", lambda opt: lr_scheduler.SequentialLR(
        opt,
        schedulers=[lr_scheduler.LinearLR(opt, start_factor=0.1, total_iters=3),
                    lr_scheduler.CosineAnnealingLR(opt, T_max=7, eta_min=1e-3)],
        milestones=[3]), 10)
    run("onecycle", lambda opt: lr_scheduler.OneCycleLR(opt, max_lr=0.2, epochs=5, steps_per_epoch=4), 5,
        per_batch=True)
    return out
