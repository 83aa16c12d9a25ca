"""PyTorch's "Datasets & DataLoaders" tutorial on in-memory data: a custom Dataset (__len__, __getitem__
with a transform and a target_transform), random_split with a seeded Generator, DataLoader with shuffle
and a generator, and a look at the first batches."""

# ruff: noqa: N801, N803, N806 - the tutorial's own names (X, F, DataLoader, Mnist_CNN) are kept


def main(torch):
    Dataset = torch.utils.data.Dataset
    DataLoader = torch.utils.data.DataLoader
    random_split = torch.utils.data.random_split

    class PointsDataset(Dataset):
        def __init__(self, n, transform=None, target_transform=None):
            g = torch.Generator().manual_seed(3)
            self.points = torch.rand(n, 2, generator=g) * 2 - 1
            self.labels = (self.points.pow(2).sum(1) < 0.5).long()
            self.transform = transform
            self.target_transform = target_transform

        def __len__(self):
            return len(self.labels)

        def __getitem__(self, idx):
            point, label = self.points[idx], self.labels[idx]
            if self.transform:
                point = self.transform(point)
            if self.target_transform:
                label = self.target_transform(label)
            return point, label

    dataset = PointsDataset(
        100,
        transform=lambda p: p * 10,
        target_transform=lambda y: torch.zeros(2, dtype=torch.float).scatter_(0, y.view(1), value=1),
    )
    out = [f"len {len(dataset)}", f"item 0 {dataset[0][0].tolist()} {dataset[0][1].tolist()}"]

    train, test = random_split(dataset, [0.8, 0.2], generator=torch.Generator().manual_seed(42))
    out.append(f"split {len(train)} {len(test)} indices {train.indices[:10]}")

    torch.manual_seed(0)
    loader = DataLoader(train, batch_size=16, shuffle=True)
    for epoch in range(2):
        for i, (xb, yb) in enumerate(loader):
            if i == 0:
                out.append(f"epoch {epoch} first batch {xb[:3].tolist()} {yb[:3].tolist()}")
        out.append(f"epoch {epoch} batches {i + 1} last {tuple(xb.shape)}")

    g = torch.Generator().manual_seed(7)
    loader = DataLoader(test, batch_size=8, shuffle=True, generator=g, drop_last=True)
    out.append(f"drop_last batches {len(loader)}")
    for xb, yb in loader:
        out.append(f"test batch {xb[:, 0].tolist()} {yb.argmax(1).tolist()}")
    return out
