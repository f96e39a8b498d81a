"""Low-level helpers every package of game-mechanics shares, at the bottom of the layers
(docs/ARCHITECTURE.md, "Layers"): one module per job.

* :mod:`.atomic`: atomic file writes (temporary file, then rename);
* :mod:`.rng`: capture and restore of the global random number generators;
* :mod:`.figures`: saving a matplotlib figure (atomically);
* :mod:`.memory`: the memory a new allocation can have (sizes refused before allocating).

They import nothing from this repository, so any package may use them.
"""
