"""Declaration of the ``transfer`` family: an ImageNet backbone and a small head."""
from trainables.families.backbones import BACKBONES
from trainables.families.params import P
from trainables.families.family import Family

TRANSFER = Family(
    name="transfer",
    summary="ImageNet backbone (frozen or fine-tuned) with its own preprocessing and a small head",
    builder="trainables.families.transfer:build",
    planner="trainables.families.transfer:plan",
    preflight="trainables.families.backbones:preflight",
    params=(
        P("backbone", "str", "mobilenetv2", "keras.applications backbone", choices=tuple(BACKBONES)),
        P("weights", "str", "imagenet", "imagenet (Keras cache), none (from scratch), or a weights file path"),
        P("image_size", "int", 32, "images are resized to this square size (>= 32)", low=32, high=512),
        P("mode", "str", "frozen", "frozen: train the head only; finetune: then unfreeze the backbone",
          choices=("frozen", "finetune")),
        P("finetune_after", "int", 1, "finetune: warm-up epochs with the backbone frozen", low=0),
        P("finetune_layers", "int", 0, "finetune: unfreeze the top N backbone layers; 0 = all", low=0),
        P("finetune_lr_factor", "float", 0.1, "finetune: learning rate multiplier once unfrozen",
          low=0.0, high=1.0),
        P("head_pooling", "str", "avg", "global pooling of the backbone output", choices=("avg", "max")),
        P("head_units", "int", 0, "units of a dense layer in the head; 0 for none", low=0),
        P("head_dropout", "float", 0.2, "dropout before the output layer", low=0.0, high=0.95, mutable=True),
        P("cache_features", "bool", True, "frozen, no augmentation: compute backbone features once per "
          "sweep and train only the head on them"),
    ),
)
