"""The KServe model: (store, dept) keys in, next-week sales forecasts out, V1 and V2.

Each forecast comes with its P10, P50 and P90 (from a model saved before the quantile heads,
the forecast alone): V1 answers them beside `forecast`, V2 as outputs of those names, of
which a request's `outputs` picks.

A request's entities are validated, their rows looked up together with their forecasts
(every served series is scored in one batch when the online snapshot is built, at start and
after each `features build`), logged, and answered with the model version. Anything wrong
with the request is a kserve `InvalidInput` (HTTP 400) naming the problem; the server goes
on serving.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import numpy as np

from salesops import kserve_import  # noqa: F401  (before any other kserve import)
from kserve import InferOutput, InferRequest, InferResponse, Model  # noqa: E402
from kserve.errors import InvalidInput  # noqa: E402

from salesops.config import Settings  # noqa: E402
from salesops.errors import PreconditionError  # noqa: E402
from salesops.features.feast_ops import open_store  # noqa: E402
from salesops.features.schema import ENTITY_KEYS  # noqa: E402
from salesops.forecasts import QUANTILE_COLUMNS, Forecasts, read_output  # noqa: E402
from salesops.serving.entities import BadRequest, keys_from_v1, keys_from_v2  # noqa: E402
from salesops.serving.online import OnlineFeatures  # noqa: E402
from salesops.stores import prediction_store  # noqa: E402
from salesops.stores.prediction_log import PredictionLog  # noqa: E402
from salesops.serving.scorer import Scorer  # noqa: E402
from salesops.workspace import Workspace  # noqa: E402

log = logging.getLogger("salesops.serving")
#: rows of real features on which calling the model directly must equal pyfunc.predict
PROBE_ROWS = 256
#: how far a row's forecast scored alone may be from the same row's in a batch
ALONE_RTOL = 1e-6


class DemandPredictor(Model):
    def __init__(self, settings: Settings, version: str) -> None:
        super().__init__(settings.mlflow.model_name)
        self.settings = settings
        self.version = version
        self.max_batch = settings.serving.max_batch
        self.fast_path = False
        self.cached = False  # answers from the snapshot's forecasts (`_check_cached`)

    def load(self) -> bool:
        workspace = Workspace(self.settings.workspace)
        self.scorer = Scorer.load(self.settings, self.version)
        self.online = OnlineFeatures(open_store(workspace), workspace, self.scorer.features,
                                     settings=self.settings, score=self._score)
        if self.online.size == 0:
            raise PreconditionError("the online store holds no feature rows",
                                    hint="run `salesops features build` first")
        probe = self.online.snapshot.rows.take(np.arange(min(PROBE_ROWS, self.online.size)))
        self.fast_path = self.scorer.enable_fast_path(
            self.scorer.frame(probe.stores, probe.depts, probe.features))
        self._check_cached(probe)
        self.online.start()
        # the profile's log: a pod's own files would be seen by no `drift` run
        self.log = PredictionLog(prediction_store(self.settings), self.name, self.version,
                                 self.scorer.features, self.scorer.dtypes,
                                 self.settings.serving.log_flush_s)
        self.ready = True
        return self.ready

    def _score(self, rows) -> Forecasts:
        """The model's forecasts of `rows` in one batch: a snapshot's (`OnlineFeatures`), or a
        request's when the snapshot's are not served."""
        return self.scorer.predict(self.scorer.frame(rows.stores, rows.depts, rows.features))

    def _check_cached(self, probe) -> None:
        """Serve the snapshot's forecasts only if they are `pyfunc.predict`'s answers: to the
        probe rows as one batch exactly, and for the first few to each row alone within
        float32 rounding (a matrix product of one row sums in another order than of many:
        1e-4 of a dollar measured). Otherwise each request is scored."""
        cached = probe.forecasts
        checks = [(np.arange(len(probe.stores)), 0.0)] + [
            (np.array([at]), ALONE_RTOL) for at in range(min(len(probe.stores), 8))]
        for rows, rtol in checks:
            part = probe.take(rows)
            frame = self.scorer.frame(part.stores, part.depts, part.features)
            answer = read_output(self.scorer.pyfunc.predict(frame)).columns()
            mine = cached.take(rows).columns()
            if answer.keys() != mine.keys() or not all(
                    np.allclose(mine[name], answer[name], rtol=rtol, atol=0)
                    for name in answer):
                log.warning("forecasts scored ahead differ from pyfunc.predict's; scoring "
                            "each request instead")
                self.cached = False
                return
        self.cached = True

    def stop(self) -> None:
        if self.ready:
            self.online.stop()
            self.log.close()
        super().stop()

    def predict(self, payload: dict | InferRequest, headers: dict | None = None,
                response_headers: dict | None = None) -> dict | InferResponse:
        v2 = isinstance(payload, InferRequest)
        try:
            parse = keys_from_v2 if v2 else keys_from_v1
            stores, depts = parse(payload, self.max_batch)
            rows = self.online.lookup(stores, depts)
        except BadRequest as exc:
            raise InvalidInput(str(exc)) from None
        if self.cached and rows.forecasts is not None:  # scored with the snapshot
            forecasts = rows.forecasts
        else:
            forecasts = self._score(rows)
        self.log.append(stores, depts, rows.weeks, rows.features, forecasts)
        weeks = np.datetime_as_string(rows.weeks, unit="D").tolist()
        if v2:
            return self._v2_response(payload, forecasts, weeks)
        columns = {name: values.tolist() for name, values in forecasts.columns().items()}
        return {
            "predictions": [
                {"store": store, "dept": dept, "week": week,
                 **{name: values[i] for name, values in columns.items()}}
                for i, (store, dept, week) in enumerate(zip(stores.tolist(), depts.tolist(),
                                                            weeks))
            ],
            "model_name": self.name,
            "model_version": self.version,
        }

    def _v2_response(self, request: InferRequest, forecasts: Forecasts,
                     weeks: list[str]) -> InferResponse:
        count = [len(forecasts)]
        outputs = [InferOutput(name, count, "FP64", data=values)
                   for name, values in forecasts.columns().items()]
        outputs.append(InferOutput("week", count, "BYTES", data=weeks))
        # the version also goes in `parameters`: kserve's own REST client drops the
        # response's model_version field when it parses a response (0.21)
        return InferResponse(response_id=request.id or uuid.uuid4().hex, model_name=self.name,
                             model_version=self.version, infer_outputs=outputs,
                             parameters={"model_version": self.version},
                             use_binary_outputs=request.use_binary_outputs)

    def get_input_types(self) -> list[dict[str, Any]]:
        return [{"name": key, "datatype": "INT64", "shape": [-1]} for key in ENTITY_KEYS]

    def get_output_types(self) -> list[dict[str, Any]]:
        scorer = getattr(self, "scorer", None)  # none before load
        quantiles = QUANTILE_COLUMNS if scorer is not None and scorer.has_quantiles else ()
        names = ["forecast", *quantiles]
        return [*({"name": name, "datatype": "FP64", "shape": [-1]} for name in names),
                {"name": "week", "datatype": "BYTES", "shape": [-1]}]
