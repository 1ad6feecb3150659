"""Model backends: chat models (OpenAI-compatible HTTP, local transformers) and their message formats.

Heavy libraries (transformers, torch, diffusers) are imported inside the classes that
need them, with the pip extra to install when they are missing.
"""
