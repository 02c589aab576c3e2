"""MLflow's "models from code" entry point for the demand model.

`mlflow.pyfunc.log_model(python_model=<this file>)` stores this file's source with the
model instead of a cloudpickle of the object; loading runs it, and it names the class to
use. The class itself lives in `pyfunc_model`, so loading needs salesops installed (the
logged model's requirements say so), and no pickled code from an older version is ever run.
"""

from mlflow.models import set_model

from salesops.training.pyfunc_model import DemandForecaster

set_model(DemandForecaster())
