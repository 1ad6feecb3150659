"""anomalyagent: agentic industrial anomaly synthesis, offline on a CPU.

A policy plans a defect (PG), edits a normal image (IG), has the result judged (QE),
looks up physical knowledge (KR), refines, and finally produces the mask (MG).
"""
__version__ = "0.1.0"
