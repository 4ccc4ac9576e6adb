"""Declaration of the ``dense`` family: a multilayer perceptron baseline."""
from trainables.families.params import ACTIVATIONS, INITIALIZERS, P
from trainables.families.family import Family

DENSE = Family(
    name="dense",
    summary="fully connected baseline: flatten, hidden layers, softmax",
    builder="trainables.families.dense:build",
    params=(
        P("layers", "int", 2, "number of hidden layers", low=0, high=16),
        P("units", "int", 128, "units of the first hidden layer", low=1),
        P("units_decay", "float", 1.0, "each next layer has units * decay (at least 1)", low=0.0, high=4.0),
        P("activation", "str", "relu", "hidden activation", choices=ACTIVATIONS),
        P("initializer", "str", "glorot_uniform", "kernel initializer", choices=INITIALIZERS),
        P("dropout", "float", 0.0, "dropout after each hidden layer", low=0.0, high=0.95, mutable=True),
        P("batch_norm", "bool", False, "batch normalization before each activation"),
        P("l1", "float", 0.0, "L1 kernel penalty", low=0.0, mutable=True),
        P("l2", "float", 0.0, "L2 kernel penalty", low=0.0, mutable=True),
    ),
)
