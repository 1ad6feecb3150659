"""The product model: where the object and its recurring parts are, learned per category
from its normal images (no anomalies needed) and cached. See model.py."""
from .model import ProductError, ProductModel
from .regions import PART_WORDS, Region, resolve_region

__all__ = ["ProductError", "ProductModel", "PART_WORDS", "Region", "resolve_region"]
