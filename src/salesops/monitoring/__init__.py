"""Drift monitoring: the champion's training data against what it sees now (`salesops drift`).

`drift.run(settings)` is the Python API; `windows` picks what is compared, `features` which
features count, `stats` the statistics, `served` the served predictions and actuals,
`report` the HTML page.
"""
