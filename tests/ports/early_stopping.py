"""A training loop with a validation split, ReduceLROnPlateau and hand-written early stopping that keeps
the best weights (copy.deepcopy of the state_dict, restored with load_state_dict) - the loop most courses
have students write before they meet a trainer library."""

# ruff: noqa: N801, N803, N806 - the tutorial's own names (X, F, DataLoader, Mnist_CNN) are kept

import copy


def main(torch):
    nn = torch.nn
    data = torch.utils.data

    torch.manual_seed(0)
    X = torch.randn(120, 8)
    true_w = torch.randn(8, 1)
    y = X @ true_w + 0.5 * torch.randn(120, 1)
    dataset = data.TensorDataset(X, y)
    train_set, val_set = data.random_split(dataset, [90, 30], generator=torch.Generator().manual_seed(42))
    train_loader = data.DataLoader(train_set, batch_size=30)
    val_loader = data.DataLoader(val_set, batch_size=30)

    model = nn.Sequential(nn.Linear(8, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1))
    criterion = nn.MSELoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=0.5, patience=2)

    best_val, best_epoch, bad_epochs, patience = float("inf"), -1, 0, 6
    best_state = copy.deepcopy(model.state_dict())
    out = []
    for epoch in range(100):
        model.train()
        train_loss = 0.0
        for xb, yb in train_loader:
            optimizer.zero_grad()
            loss = criterion(model(xb), yb)
            loss.backward()
            optimizer.step()
            train_loss += loss.item() * len(xb)
        train_loss /= len(train_loader.dataset)

        model.eval()
        val_loss = 0.0
        with torch.no_grad():
            for xb, yb in val_loader:
                val_loss += criterion(model(xb), yb).item() * len(xb)
        val_loss /= len(val_loader.dataset)
        scheduler.step(val_loss)
        lr = optimizer.param_groups[0]["lr"]
        out.append(f"epoch {epoch:3d} train {train_loss:.5f} val {val_loss:.5f} lr {lr:.6f}")

        if val_loss < best_val:
            best_val, best_epoch, bad_epochs = val_loss, epoch, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            bad_epochs += 1
            if bad_epochs >= patience:
                out.append(f"early stop at epoch {epoch}")
                break

    model.load_state_dict(best_state)
    with torch.no_grad():
        val_loss = sum(criterion(model(xb), yb).item() * len(xb) for xb, yb in val_loader) / len(val_set)
    out.append(f"best epoch {best_epoch} best val {best_val:.5f} restored val {val_loss:.5f}")
    return out
