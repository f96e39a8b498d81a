"""The experiments behind the figures the claims ledger checks (LEAD Fig. 3, LEAD App. J
Fig. 9, FR Sec. 6.1), as importable modules: ``gamemech claims`` uses their ``run``
functions from the installed package, and each module is also a script
(``python -m gamemech.experiments.fig9_ogda_gamma --out out/fig9``; the files of
``examples/`` with the same names call these ``main`` functions)."""
