"""Task families. Each owns its dynamics and, where it has them, its datasets, ground truth and evaluation.

* :mod:`.car_on_hill`: the paper's Car-On-Hill family (dynamics, datasets, exact Q*, test grid,
  greedy evaluation) -- what multi-task FQI runs on;
* :mod:`.classic_control`, :mod:`.inverted_pendulum`: batched physics of the DQN tasks;
* :mod:`.multitask`: the task contract, the registry of named tasks and the S seeds x T tasks
  environment that pads observations and masks actions.
"""
