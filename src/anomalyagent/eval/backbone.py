"""Moved to ``anomalyagent.features`` (shared with the critic); this path keeps working."""
from ..features import (INPUT_SIDE, MEAN, STD, BackboneUnavailable, effnet_outputs, load_effnet_lite0,  # noqa: F401
                        load_resnet34, preprocess, resnet34_available, resnet34_weights)
