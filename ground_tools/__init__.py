"""Ground segment tools: the ``msr`` operator CLI, scripting API, archive, displays and exports.

Imports ``hal`` and, of ``fsw``, only its pure dictionary declarations; never the simulator.
Processes are started by command line, never by import.
"""
