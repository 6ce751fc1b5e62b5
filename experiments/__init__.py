"""What sits above the library: the training loop, the command line, and experiments."""
