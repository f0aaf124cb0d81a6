"""Batch work over whole corpora on Ray: ``scan`` (a corpus against banks) and ``cluster`` share this package.

The shape follows the pipelines large text jobs run on (datatrove, NeMo Curator): the inputs are cut into
*blocks* (a byte range of a JSON Lines file, row groups of a Parquet file, a run of ``.txt`` files;
``inputs``), a step reads a block (``readers``), works on its documents in compiled batches and writes its
rows to a part file of its own (``parts``), then leaves a completion marker with its statistics
(``markers``); a re-run with ``--resume`` skips the blocks that have one.  ``engine`` starts Ray (local, or a
cluster through ``RAY_ADDRESS``) and runs a step over the blocks with an actor pool of Ray Data;
``shared_index`` hands the banks' index to every node once.
"""
