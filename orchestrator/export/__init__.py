"""Deployable artefacts of a checkpoint (Keras, SavedModel, ONNX, TFLite) and their agreement with it."""
