"""The demand model's own code: the network, its scalers, the inputs it derives from feature
rows, and the MLflow pyfunc that serves it.

Every logged model carries a copy of this package (MLflow `code_paths`), so loading one
needs only what a package index has: `mlflow`, `torch`, `numpy` and `pandas` at the versions
it was logged with (see `salesops.training.pyfunc_model.pip_requirements`). That is why
nothing here imports salesops, and why it is a package of its own beside it: salesops
trains with exactly the code that the model later runs, under the same import name, in
salesops' own processes and in a fresh virtual environment alike. A test enforces both.
"""
