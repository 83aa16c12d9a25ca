"""A small CNN on the 8x8 digits: Conv2d, BatchNorm2d, ReLU, MaxPool2d, Dropout and a Linear head, Adam,
a shuffling DataLoader, train/eval modes and a confusion-free accuracy printout per epoch."""

# ruff: noqa: N801, N803, N806 - the tutorial's own names (X, F, DataLoader, Mnist_CNN) are kept


def main(torch):
    import numpy as np
    from sklearn.datasets import load_digits

    nn = torch.nn
    F = torch.nn.functional
    data = torch.utils.data

    digits = load_digits()
    images = torch.from_numpy((digits.images / 16.0).astype(np.float32)).unsqueeze(1)
    targets = torch.from_numpy(digits.target.astype(np.int64))
    train_ds = data.TensorDataset(images[:1400], targets[:1400])
    test_ds = data.TensorDataset(images[1400:], targets[1400:])

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 16, kernel_size=3, padding=1)
            self.bn1 = nn.BatchNorm2d(16)
            self.conv2 = nn.Conv2d(16, 32, kernel_size=3, padding=1)
            self.bn2 = nn.BatchNorm2d(32)
            self.pool = nn.MaxPool2d(2)
            self.dropout = nn.Dropout(0.25)
            self.fc = nn.Linear(32 * 2 * 2, 10)

        def forward(self, x):
            x = self.pool(F.relu(self.bn1(self.conv1(x))))
            x = self.pool(F.relu(self.bn2(self.conv2(x))))
            x = torch.flatten(x, 1)
            return self.fc(self.dropout(x))

    torch.manual_seed(0)
    model = Net()
    out = [f"parameters {sum(p.numel() for p in model.parameters() if p.requires_grad)}"]
    train_loader = data.DataLoader(train_ds, batch_size=64, shuffle=True)
    test_loader = data.DataLoader(test_ds, batch_size=200)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)

    for epoch in range(3):
        model.train()
        running = 0.0
        for i, (x, y) in enumerate(train_loader):
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
            running += loss.item()
            if i % 10 == 9:
                out.append(f"[{epoch + 1}, {i + 1:3d}] loss: {running / 10:.4f}")
                running = 0.0
        model.eval()
        correct = total = 0
        with torch.no_grad():
            for x, y in test_loader:
                _, predicted = torch.max(model(x), 1)
                total += y.size(0)
                correct += (predicted == y).sum().item()
        out.append(f"epoch {epoch + 1} test accuracy {100 * correct // total} % ({correct}/{total})")
    out.append(f"running_var {model.bn1.running_var[:4].tolist()}")
    out.append(f"num_batches_tracked {model.bn2.num_batches_tracked.item()}")
    return out
