"""The theory papers as experiments: each runs the paper's training or estimation once and measures the finding."""
