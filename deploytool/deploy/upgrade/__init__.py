"""`deploytool upgrade`: a pure planner over live facts gathered once, an ordered apply with stall
diagnosis and rollback, and a data-integrity ledger. The upgrade drill runs the same engine.

paths.py      which version changes are supported (named rules, each with its reason)
facts.py      the live facts (nodes, pods, workloads, PDBs, release values), gathered in one pass
plan.py       the plan: order, strategies, downtime, feasibility, backup gate -- pure
stall.py      why a rollout does not progress, from pod and workload state -- pure
ledger.py     inventory and canary through pymilvus; the comparison is pure
apply.py      one helm revision per step, wait until fully rolled, roll back on a stall
"""
