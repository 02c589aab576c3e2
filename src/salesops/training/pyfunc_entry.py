"""MLflow's "models from code" entry point for the demand model.

`mlflow.pyfunc.log_model(python_model=<this file>)` stores this file's source with the
model instead of a cloudpickle of the object; loading runs it, and it names the class to
use. The class is in `demand_forecaster`, the package logged with the model (its
`code_paths`; installed beside salesops here), so this file imports nothing from salesops
and no pickled code from an older version is ever run.
"""

from mlflow.models import set_model

from demand_forecaster.pyfunc import DemandForecaster

set_model(DemandForecaster())
