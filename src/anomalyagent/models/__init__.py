"""Model-building helpers shared by policies, tools and training (heavy imports are lazy)."""
