"""A short text shared by the character-level ports (written for them; nothing is downloaded)."""

# ruff: noqa: N801, N803, N806 - the tutorial's own names (X, F, DataLoader, Mnist_CNN) are kept

TEXT = (
    "the cat sat on the mat. the dog sat on the log. the cat saw the dog and the dog saw the cat. "
    "a bird sang in the tree and the cat looked up at the bird. the dog ran to the tree and the bird "
    "flew away. then the cat and the dog sat in the sun on the mat by the log, and all was still. "
)
