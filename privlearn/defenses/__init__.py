"""Defenses against the attacks, and the one path that evaluates them.

Every defense privlearn has, in one place (the classes live where they are
defined and are re-exported here; :data:`privlearn.catalogue.DEFENSES` declares
each once, with how it is switched on):

- :class:`Talos`: a self-supervised encoder trained against an adversary that
  predicts the sensitive attribute (He & Zhang, CCS 2021), over any objective.
- **MMD**: distribution matching of the representations across attribute values,
  a Talos option (``Talos(mmd_weight=μ)``, alone with ``adversary_weight=0`` or
  with the adversary; :func:`privlearn.losses.mmd2`).
- :class:`LinearConceptEraser`: post-hoc linear concept erasure (LEACE) of the
  attribute from any encoder's embeddings, a Pipeline step.
- **DP-SGD**: differentially private training of the supervised baseline,
  ``SupervisedClassifier(noise_multiplier=σ, max_grad_norm=C)``
  (:class:`SupervisedClassifier`; its ``epsilon_`` is the guarantee spent).

Evaluation, one path for the library and the audit:

- :func:`evaluate_defense`: one defense fitted on its members and measured
  (utility, fresh attribute attacker, strongest membership attack, ε);
- :func:`summarize_defenses`: utility cost and leakage removed against the
  undefended reference (also builds the audit's defense table);
- :func:`compare_defenses`, :func:`defense_table`, :func:`plot_defenses`;
- :func:`privacy_utility_curve`, :func:`plot_privacy_utility`: Talos's
  trade-off over the adversary weight λ.

Examples
--------
>>> from privlearn import defenses
>>> defenses.Talos(mmd_weight=1.0, adversary_weight=0.0).mmd_weight
1.0
>>> from privlearn import catalogue
>>> catalogue.names("defenses")          # each declared once, in the catalogue
('talos', 'mmd', 'leace', 'dp_sgd')
"""

from ..encoders import SupervisedClassifier
from ..erasure import LinearConceptEraser
from ..talos import AdversaryNet, Talos
from .compare import (compare_defenses, defense_table, evaluate_defense, plot_defenses,
                      summarize_defenses)
from .tradeoff import plot_privacy_utility, privacy_utility_curve

__all__ = ["Talos", "AdversaryNet", "LinearConceptEraser", "SupervisedClassifier",
           "evaluate_defense", "summarize_defenses", "compare_defenses",
           "defense_table", "plot_defenses", "privacy_utility_curve",
           "plot_privacy_utility"]
