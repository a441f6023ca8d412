"""Task families. Each owns its dynamics and, where it has them, its datasets, ground truth and evaluation.

* :mod:`.car_on_hill`: the paper's Car-On-Hill family (dynamics, datasets, exact Q*, test grid,
  greedy evaluation) -- what multi-task FQI runs on;
* :mod:`.classic_control`, :mod:`.inverted_pendulum`: batched physics of the DQN tasks;
* :mod:`.spec`: the task contract (discrete or continuous actions), observation padding, action masks;
* :mod:`.multitask`: the registry of the DQN tasks and the S seeds x T tasks environment that pads
  observations and masks actions;
* :mod:`.continuous`, :mod:`.dm_control_tasks`, :mod:`.engines`, :mod:`.vector`: the DDPG task groups
  on real engines (PyBullet, MuJoCo, dm_control) and their parallel stepping;
* :mod:`.family`: what FQI needs from a task family, and the registry of families.
"""
