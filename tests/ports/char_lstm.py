"""A character-level LSTM language model (the char-rnn exercise): Embedding, a two-layer LSTM with
batch_first, a Linear decoder, Adam with gradient clipping, then sampling with a carried hidden state."""

# ruff: noqa: N801, N803, N806 - the tutorial's own names (X, F, DataLoader, Mnist_CNN) are kept

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from _text import TEXT  # noqa: E402


def main(torch):
    nn = torch.nn
    F = torch.nn.functional

    chars = sorted(set(TEXT))
    stoi = {c: i for i, c in enumerate(chars)}
    itos = {i: c for c, i in stoi.items()}
    data = torch.tensor([stoi[c] for c in TEXT], dtype=torch.long)
    vocab_size, seq_len, batch_size = len(chars), 32, 16

    class CharLSTM(nn.Module):
        def __init__(self, vocab_size, embed=16, hidden=64, layers=2):
            super().__init__()
            self.embed = nn.Embedding(vocab_size, embed)
            self.lstm = nn.LSTM(embed, hidden, num_layers=layers, batch_first=True)
            self.decoder = nn.Linear(hidden, vocab_size)

        def forward(self, x, state=None):
            output, state = self.lstm(self.embed(x), state)
            return self.decoder(output), state

    torch.manual_seed(0)
    model = CharLSTM(vocab_size)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    out = [f"vocab {vocab_size} text {len(TEXT)}"]

    for step in range(120):
        ix = torch.randint(len(data) - seq_len - 1, (batch_size,))
        x = torch.stack([data[i:i + seq_len] for i in ix])
        y = torch.stack([data[i + 1:i + seq_len + 1] for i in ix])
        logits, _ = model(x)
        loss = F.cross_entropy(logits.view(-1, vocab_size), y.view(-1))
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()
        if step % 20 == 0 or step == 119:
            out.append(f"step {step} loss {loss.item():.4f}")

    model.eval()
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():
        x = torch.tensor([[stoi[c] for c in "the "]])
        logits, state = model(x)
        text = "the "
        for _ in range(60):
            probs = F.softmax(logits[0, -1] / 0.8, dim=-1)
            ix = torch.multinomial(probs, 1, generator=g)
            text += itos[ix.item()]
            logits, state = model(ix.view(1, 1), state)
    out.append("sample: " + text)
    return out
