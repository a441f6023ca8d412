"""Task families: Car-On-Hill variants (and, in later modules, the DQN/DDPG tasks)."""
