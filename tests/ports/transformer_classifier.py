"""A sequence classifier from the model zoo's attention layers: nn.Embedding with a learned position table,
nn.TransformerEncoder over nn.TransformerEncoderLayer (batch_first, dropout, GELU), a padding mask,
mean pooling and a Linear head; the task is to tell whether token 1 occurs before token 2."""

# ruff: noqa: N801, N803, N806 - the tutorial's own names (X, F, DataLoader, Mnist_CNN) are kept


def main(torch):
    nn = torch.nn
    F = torch.nn.functional

    vocab, length, pad = 8, 12, 0

    def make_batch(n, generator):
        x = torch.randint(3, vocab, (n, length), generator=generator)
        lengths = torch.randint(6, length + 1, (n,), generator=generator)
        pos = torch.randint(0, 6, (n, 2), generator=generator)
        rows = torch.arange(n)
        x[rows, pos[:, 0]] = 1
        x[rows, pos[:, 1] + 1] = 2
        mask = torch.arange(length).unsqueeze(0) >= lengths.unsqueeze(1)
        x = x.masked_fill(mask, pad)
        y = (pos[:, 0] <= pos[:, 1]).long()
        return x, mask, y

    class Classifier(nn.Module):
        def __init__(self, d_model=32, nhead=4, layers=2):
            super().__init__()
            self.embed = nn.Embedding(vocab, d_model, padding_idx=pad)
            self.pos = nn.Parameter(torch.zeros(1, length, d_model))
            layer = nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward=64, dropout=0.1,
                                               activation="gelu", batch_first=True)
            self.encoder = nn.TransformerEncoder(layer, num_layers=layers)
            self.head = nn.Linear(d_model, 2)

        def forward(self, x, mask):
            h = self.encoder(self.embed(x) + self.pos, src_key_padding_mask=mask)
            keep = (~mask).unsqueeze(-1).float()
            pooled = (h * keep).sum(1) / keep.sum(1)
            return self.head(pooled)

    torch.manual_seed(0)
    model = Classifier()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(1)
    x_test, mask_test, y_test = make_batch(200, g)
    out = [f"parameters {sum(p.numel() for p in model.parameters())}", f"test labels {y_test.sum().item()}"]

    for step in range(60):
        x, mask, y = make_batch(32, g)
        model.train()
        loss = F.cross_entropy(model(x, mask), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 10 == 0 or step == 59:
            model.eval()
            with torch.no_grad():
                accuracy = (model(x_test, mask_test).argmax(-1) == y_test).sum().item() / len(y_test)
            out.append(f"step {step} loss {loss.item():.4f} test accuracy {accuracy:.3f}")
    return out
