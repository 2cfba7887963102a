"""Operator procedures shipped with the bench: the nominal campaign (``campaign.py``), its steps
(:mod:`ground_tools.procedures.steps`) and the fault scenarios (``scenarios/``). Each procedure
is a plain Python file run by ``msr run`` or ``msr campaign``."""
