"""Drills: rehearse a failure on a live environment, measure what a client sees, write a report.

    deploytool drill upgrade --env prod --to v3.0.2
    deploytool drill node-failure --env prod
    deploytool drill autoscale --env prod

runner.py     the shared frame: release check, recorder + probe beside the scenario, verdict, report
recorder.py   watch-based availability recorder (Deployments, StatefulSets, Pods, EndpointSlices, HPAs, Nodes)
probe.py      pymilvus searches at a fixed rate through a port-forward, moving pods like a client would
upgrade.py    rolling upgrade in dependency order (per-component image tags), rollback on a stuck step
node_failure.py  fail, drain, reschedule, restore a node
autoscale.py  drive an HPA up and down (faults.py simulates CPU on kwok; loadgen.py loads a real cluster)
checks.py     the assertion logic (pure functions over a Recording)
report.py, plot.py  data.json, summary.md, timeline.png
See docs/drills.md.
"""
