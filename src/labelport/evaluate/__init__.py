"""Evaluate a model run against a reference (the people's instances, or another run).

`matching` pairs predictions with references (COCO's greedy rule, vectorised), `metrics` turns the
pairs into AP / precision / recall / F1, per-file counts, a confusion table and track breaks,
`load` reads both sides from the database in bulk, and `run.evaluate_run` puts them together.
"""
