"""``msr montecarlo``: many dispersed campaigns on a local process pool or a Dask cluster, one
report (issue 21). :mod:`.model` holds the records its parts pass between them,
:mod:`.dispersions` draws each run's bench, faults and resets from a dispersions file,
:mod:`.report` writes the report, and the farm runs the campaigns and brings their results back.
"""
