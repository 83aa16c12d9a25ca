"""Dive into Deep Learning 3.5: concise linear regression (TensorDataset, shuffling DataLoader,
nn.Sequential(nn.Linear), in-place init through .data, MSELoss, optim.SGD)."""

# ruff: noqa: N801, N803, N806 - the tutorial's own names (X, F, DataLoader, Mnist_CNN) are kept


def main(torch):
    nn = torch.nn
    data = torch.utils.data

    def synthetic_data(w, b, num_examples):
        X = torch.normal(0, 1, (num_examples, len(w)))
        y = torch.matmul(X, w) + b
        y += torch.normal(0, 0.01, y.shape)
        return X, y.reshape((-1, 1))

    def load_array(data_arrays, batch_size, is_train=True):
        dataset = data.TensorDataset(*data_arrays)
        return data.DataLoader(dataset, batch_size, shuffle=is_train)

    torch.manual_seed(0)
    true_w = torch.tensor([2, -3.4])
    true_b = 4.2
    features, labels = synthetic_data(true_w, true_b, 1000)

    batch_size = 10
    data_iter = load_array((features, labels), batch_size)
    first = next(iter(data_iter))
    out = [f"first batch: {first[0][0]} {first[1][0]}"]

    net = nn.Sequential(nn.Linear(2, 1))
    net[0].weight.data.normal_(0, 0.01)
    net[0].bias.data.fill_(0)
    loss = nn.MSELoss()
    trainer = torch.optim.SGD(net.parameters(), lr=0.03)

    num_epochs = 3
    for epoch in range(num_epochs):
        for X, y in data_iter:
            ls = loss(net(X), y)
            trainer.zero_grad()
            ls.backward()
            trainer.step()
        ls = loss(net(features), labels)
        out.append(f"epoch {epoch + 1}, loss {ls:f}")

    w = net[0].weight.data
    out.append(f"error in estimating w: {true_w - w.reshape(true_w.shape)}")
    b = net[0].bias.data
    out.append(f"error in estimating b: {true_b - b}")
    return out
