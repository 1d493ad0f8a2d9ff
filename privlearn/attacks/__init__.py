"""Privacy attacks: membership inference (NN, metric-based, label-only) and
attribute inference."""
