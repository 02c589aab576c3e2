"""The floor of serving: a bare `kserve.Model` that answers a constant, served by the same
`kserve.ModelServer` salesops serves with (benchmarks/serving.py starts it beside salesops'
server and measures both with the same client).

    .venv/bin/python benchmarks/kserve_floor.py --port 8099 [--name salesops-demand]

It reads the entities of a V1 or V2 request as salesops does (the `instances` list, or the
`store` and `dept` inputs) and answers, for each, what salesops answers (store, dept, week,
forecast and its P10, P50, P90), all constants: what is left is KServe's own request
handling, JSON and the HTTP server.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from salesops import kserve_import  # noqa: E402,F401  (kserve must not read our argv)
from kserve import InferOutput, InferRequest, InferResponse, Model, ModelServer  # noqa: E402

COLUMNS = {"forecast": 1234.5, "p10": 1000.0, "p50": 1234.5, "p90": 1500.0}
WEEK = "2025-01-03"


class Floor(Model):
    def load(self) -> bool:
        self.ready = True
        return self.ready

    def predict(self, payload, headers=None, response_headers=None):
        if isinstance(payload, InferRequest):
            count = [int(payload.inputs[0].shape[0])]
            outputs = [InferOutput(name, count, "FP64", data=[value] * count[0])
                       for name, value in COLUMNS.items()]
            outputs.append(InferOutput("week", count, "BYTES", data=[WEEK] * count[0]))
            return InferResponse(response_id=payload.id or uuid.uuid4().hex,
                                 model_name=self.name, infer_outputs=outputs)
        if isinstance(payload, bytes | str):  # a body typed other than exactly JSON
            payload = json.loads(payload)
        return {"predictions": [{"store": item["store"], "dept": item["dept"], "week": WEEK,
                                 **COLUMNS} for item in payload["instances"]],
                "model_name": self.name, "model_version": "0"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--name", default="salesops-demand")
    args = parser.parse_args()
    model = Floor(args.name)
    model.load()
    ModelServer(http_port=args.port, enable_grpc=False,
                enable_latency_logging=False).start([model])


if __name__ == "__main__":
    main()
