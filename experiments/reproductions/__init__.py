"""The papers' results reproduced inside minigrad: one module per paper, its page under docs/reproductions/.

``python -m experiments.reproductions PAPER [--smoke]`` runs (or, for the studies, reads from their
store) what a paper's page needs, writes the page (``docs/reproductions/`` + the paper's name + ``.md``)
with its figures and its claims, and rebuilds the index, ``docs/reproductions/index.md``. ``--smoke`` does the same on a
few seeds, iterations and images, for CI, into a folder of its own.

- :mod:`~experiments.reproductions.singh2015`: Singh et al. (2015) Table I, from the study specs
  ``experiments/studies/specs/singh2015_table1_*.toml``.
- :mod:`~experiments.reproductions.ravaut2018`: Ravaut & Gorti (2018), the learned learning rate.
- :mod:`~experiments.reproductions.zheng2019`: Zheng et al. (2019) Fig. 8, from the saddle lab.
- :mod:`~experiments.reproductions.mosca2017`: Mosca & Magoulas (2017) Table 2, WAME, from the study specs
  ``experiments/studies/specs/mosca2017_table2_*.toml``.
- :mod:`~experiments.reproductions.dozat2016`: Dozat (2016) Tables 1-3, the hyperalgorithm on the
  autoencoder, from ``experiments/studies/specs/dozat2016_table*.toml``.
- :mod:`~experiments.reproductions.singh2015_cifar`: Singh et al. (2015) Table II, CIFAR-10, from
  ``experiments/studies/specs/singh2015_table2_cifar10*.toml``.
- :mod:`~experiments.reproductions.stored`: reading those studies' results from their stores.
"""

#: Paper name -> module, in the order of the index.
PAPERS = ("singh2015", "ravaut2018", "zheng2019", "mosca2017", "dozat2016", "singh2015_cifar")
