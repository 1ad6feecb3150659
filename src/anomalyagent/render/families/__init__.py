"""Renderer families; each module registers itself with RENDERERS under its file name."""
