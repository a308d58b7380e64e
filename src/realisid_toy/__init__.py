"""The toy world: synthetic people for toy-scale RealisID experiments, a layer above ``realisid``.

- :mod:`realisid_toy.world` — the renderer (people with exact boxes, landmarks and masks) and the
  toy identity metric (the ``synthetic`` identity backend of ``realisid.evaluation``);
- :mod:`realisid_toy.lab` — the experiment: toy SDXL training, the recipe behind
  ``realisid toy-reproduce``, the checks behind ``realisid toy-check`` and their tables;
- :mod:`realisid_toy.shipped` — the trained toy weights in ``weights/`` that ``realisid demo`` runs.

It uses the library's public API; the library never imports it.
"""
