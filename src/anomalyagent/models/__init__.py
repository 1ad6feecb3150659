"""Model backends and model-building helpers shared by policies, tools and training.

Chat models (OpenAI-compatible HTTP, local transformers), the scripted test server, the
tiny random Qwen3-VL builder. Heavy libraries (transformers, torch, diffusers) are
imported inside the functions and classes that need them, with the pip extra to install
when they are missing.
"""
