"""Evaluation harness: real-defect split, detector, metrics, classification, generation, bench.

Importing this package is light; torch is imported by the modules that need it
(``unet``, ``train``, ``classify``, ``generation``, ``bench``).
"""
