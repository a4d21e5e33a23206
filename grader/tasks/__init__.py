"""One module per lab task; each registers its checks with grader.registry.check."""
