"""Sphinx configuration for privlearn's documentation."""

import os
import sys

sys.path.insert(0, os.path.abspath(".."))

project = "privlearn"
author = "privlearn developers"
copyright = "2026, privlearn developers"
release = version = "0.2.0"

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.viewcode",
    "numpydoc",
]
autosummary_generate = True
templates_path = ["_templates"]
# sklearn generates the set_*_request methods and inherits score(); their
# docstrings refer to sklearn's own glossary, which does not exist here.
autodoc_default_options = {
    "members": True,
    "inherited-members": False,
    "exclude-members": ",".join(
        ["score"] + [f"set_{m}_request" for m in
                     ("fit", "partial_fit", "predict", "predict_proba", "score",
                      "transform", "decision_function", "inverse_transform")]),
}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_validation_checks = set()
intersphinx_mapping = {}  # offline builds: no inventories are fetched
exclude_patterns = ["_build"]
html_theme = "alabaster"
nitpicky = False
suppress_warnings = ["autosummary.import_cycle"]
