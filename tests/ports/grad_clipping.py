"""Gradient clipping on a vanilla RNN learning the adding problem (sum the two marked numbers of a
sequence): nn.RNN(batch_first=True) and a Linear head, SGD with momentum, clip_grad_norm_ printing the
norm before clipping, and clip_grad_value_ on a second run."""

# ruff: noqa: N801, N803, N806 - the tutorial's own names (X, F, DataLoader, Mnist_CNN) are kept


def main(torch):
    nn = torch.nn

    def adding_batch(batch, length, generator):
        values = torch.rand(batch, length, generator=generator)
        marks = torch.zeros(batch, length)
        first = torch.randint(0, length // 2, (batch,), generator=generator)
        second = torch.randint(length // 2, length, (batch,), generator=generator)
        marks[torch.arange(batch), first] = 1.0
        marks[torch.arange(batch), second] = 1.0
        x = torch.stack([values, marks], dim=-1)
        y = (values * marks).sum(dim=1, keepdim=True)
        return x, y

    class AddingRNN(nn.Module):
        def __init__(self, hidden=32):
            super().__init__()
            self.rnn = nn.RNN(2, hidden, batch_first=True)
            self.head = nn.Linear(hidden, 1)

        def forward(self, x):
            output, h_n = self.rnn(x)
            return self.head(output[:, -1])

    out = []
    for clip in ("norm", "value"):
        torch.manual_seed(0)
        g = torch.Generator().manual_seed(1)
        model = AddingRNN()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        loss_fn = nn.MSELoss()
        for step in range(60):
            x, y = adding_batch(32, 20, g)
            loss = loss_fn(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            if clip == "norm":
                total_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
            else:
                total_norm = torch.norm(torch.stack([p.grad.norm() for p in model.parameters()]))
                torch.nn.utils.clip_grad_value_(model.parameters(), clip_value=0.1)
            optimizer.step()
            if step % 10 == 0 or step == 59:
                out.append(f"{clip} step {step} loss {loss.item():.5f} grad norm {total_norm.item():.5f}")
    return out
