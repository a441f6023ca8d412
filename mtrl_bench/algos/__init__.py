"""Learning algorithms: multi-task FQI, DQN (and later DDPG, transfer)."""
