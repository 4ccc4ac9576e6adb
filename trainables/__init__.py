"""tunefm trainables: data sets, model families and the loop a trial runs.

Importing this package (or its registries) never imports TensorFlow; only building a
model or running a trial does.
"""
