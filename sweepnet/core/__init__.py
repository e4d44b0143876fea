"""The classic numeric API: layers as forward/backward pairs, update rules, models, Solver.

A plain numpy library; it knows nothing of plugins, Ray or MLflow.
"""
