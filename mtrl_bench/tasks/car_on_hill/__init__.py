"""The Car-On-Hill family: dynamics, datasets, exact Q* and its test grid, greedy evaluation."""
