"""dse: analytical performance model and design-space exploration for recommendation inference.

Data flow (one subpackage per arrow): specs -> graph -> cost -> serve -> sched -> sweep -> report,
with calibrate feeding fitted numbers back into hardware specs.
"""

__version__ = "0.1.0"
