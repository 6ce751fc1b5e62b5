"""Studies: methods compared over seeds, run on a process pool or a Dask cluster, kept in SQLite.

A study (a TOML file, :class:`Study`) names a model, a dataset and its preprocessing, a data
order, a training budget, the iterations at which to evaluate, seeds, and the methods to
compare. Each (method, grid point, seed) is a cell, a pure function of the spec; within a seed
every method starts from the same weights and sees the same batches (a paired design).

- :mod:`~experiments.studies.spec`: the :class:`Study` dataclass, TOML loading and validation;
- :mod:`~experiments.studies.tasks`: the loss and metrics of each task (classification, reconstruction);
- :mod:`~experiments.studies.cell`: :func:`run_cell`, one cell;
- :mod:`~experiments.studies.runner`: :func:`run_study` over any executor (process pool, Dask);
- :mod:`~experiments.studies.store`: :class:`StudyStore`, the SQLite results;
- :mod:`~experiments.studies.report`: statistics, ``report.md`` and figures;
- :mod:`~experiments.studies.cli`: ``minigrad study run|status|report|list``.

Example specs live in ``experiments/studies/specs/``.
"""

from experiments.studies.cell import CellResult, run_cell
from experiments.studies.report import build_report, write_report
from experiments.studies.runner import InlineExecutor, StudySummary, run_study
from experiments.studies.spec import Cell, Method, Study, StudySpecError, load_study, study_from_dict, validate_study
from experiments.studies.store import DEFAULT_STORE, StoreError, StudyChanged, StudyStore

__all__ = [
    "DEFAULT_STORE",
    "Cell",
    "CellResult",
    "InlineExecutor",
    "Method",
    "StoreError",
    "Study",
    "StudyChanged",
    "StudySpecError",
    "StudyStore",
    "StudySummary",
    "build_report",
    "load_study",
    "run_cell",
    "run_study",
    "study_from_dict",
    "validate_study",
    "write_report",
]
