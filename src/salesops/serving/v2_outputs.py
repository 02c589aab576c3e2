"""The outputs a V2 request names (`outputs[]`): only those are returned, each as JSON or
binary, and a name the model does not have is refused before the model runs.

KServe's data plane hands `request_outputs` to the model and leaves them to it: a response
built without them returns every output, whatever was asked (an unknown name got 200).
KServe's own check of the names (`InferResponse.to_rest`, "Unexpected inference output
...", 400) runs only when the response is encoded, after the model ran and the prediction
was logged; the same message comes here from the model's declared outputs, up front.

JSON or binary, per output (the binary tensor extension): its `parameters.binary_data`,
else the request's `binary_data_output`. KServe 0.21 reads only the output's own parameter
and sends JSON when it is absent; tritonclient always sets it.
"""

from __future__ import annotations

from typing import Any

ALL = None  # no `outputs` in the request: every output, as `binary_data_output` says


def requested(request: Any, model: Any) -> list | None:
    """The outputs `request` (an `InferRequest`) asks `model` for, each with an explicit
    `binary_data`; None when it names none (or is not a V2 request). Raises InvalidInput
    for a name the model does not declare, one named twice, or a non-boolean binary_data."""
    from kserve import InferRequest
    from kserve.errors import InvalidInput
    from kserve.protocol.infer_type import RequestedOutput

    if not isinstance(request, InferRequest) or not request.request_outputs:
        return ALL
    declared = {output["name"] for output in model.get_output_types()}
    names = [output.name for output in request.request_outputs]
    outputs = []
    for output in request.request_outputs:
        if declared and output.name not in declared:  # KServe's words for it
            raise InvalidInput(f"Unexpected inference output '{output.name}' for model "
                               f"'{model.name}'")
        if names.count(output.name) > 1:  # which form would be meant?
            raise InvalidInput(f"output {output.name} is requested more than once")
        binary = output.binary_data
        if binary is None:
            binary = bool(request.use_binary_outputs)
        elif not isinstance(binary, bool):
            raise InvalidInput(f"output {output.name}: parameters.binary_data must be true "
                               "or false")
        outputs.append(RequestedOutput(output.name, {**(output.parameters or {}),
                                                     "binary_data": binary}))
    return outputs


def restrict(response: Any, outputs: list | None) -> Any:
    """`response` (an `InferResponse`) encoding only `outputs`, in their order and form."""
    from kserve import InferResponse

    if outputs is ALL or not isinstance(response, InferResponse):
        return response
    return InferResponse(response_id=response.id, model_name=response.model_name,
                         model_version=response.model_version,
                         infer_outputs=response.outputs, parameters=response.parameters,
                         requested_outputs=outputs)
