"""The model card template (template.md), installed with the package so that cards render from any install."""
