"""Declaration of the ``cnn`` family: conv blocks, optional dense head."""
from trainables.families.params import ACTIVATIONS, INITIALIZERS, P
from trainables.families.family import Family

CNN = Family(
    name="cnn",
    summary="convolutional blocks (conv, pool, dropout) and a dense head",
    builder="trainables.families.cnn:build",
    params=(
        P("blocks", "int", 2, "conv blocks, each ending in a pooling layer", low=1, high=8),
        P("filters", "int", 32, "filters of the first block", low=1),
        P("filter_growth", "float", 2.0, "each next block has filters * growth", low=0.25, high=4.0),
        P("convs_per_block", "int", 1, "conv layers per block", low=1, high=4),
        P("kernel_size", "int", 3, "square kernel size (of the first block)", low=1, high=11),
        P("kernel_step", "int", 0, "each next block's kernel is this much larger (negative: smaller; at least 1)",
          low=-8, high=8),
        P("pooling", "str", "max", "pooling at the end of a block", choices=("max", "avg")),
        P("pool_size", "int", 2, "pooling window and stride of the first block (1: no pooling)", low=1, high=8),
        P("pool_step", "int", 0, "each next block's pooling window is this much larger (at least 1)", low=-7, high=7),
        P("padding", "str", "same", "conv padding", choices=("same", "valid")),
        P("activation", "str", "relu", "conv and dense activation", choices=ACTIVATIONS),
        P("initializer", "str", "he_uniform", "kernel initializer", choices=INITIALIZERS),
        P("batch_norm", "bool", False, "batch normalization after each conv"),
        P("dropout", "float", 0.0, "dropout after each block", low=0.0, high=0.95, mutable=True),
        P("spatial_dropout", "bool", False, "use SpatialDropout2D instead of Dropout in blocks"),
        P("global_pooling", "str", "none", "flatten (none) or global average/max pooling before the head",
          choices=("none", "avg", "max")),
        P("dense_units", "int", 128, "units of the dense head layer; 0 for none", low=0),
        P("head_dropout", "float", 0.0, "dropout before the output layer", low=0.0, high=0.95, mutable=True),
        P("l1", "float", 0.0, "L1 kernel penalty", low=0.0, mutable=True),
        P("l2", "float", 0.0, "L2 kernel penalty", low=0.0, mutable=True),
    ),
)
