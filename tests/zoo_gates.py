"""The model zoo's checks of a bundle, run inside an exported bundle folder with this repository's package
blocked: ``python zoo_gates.py`` with the bundle folder as the working directory prints one JSON line.

Written from the zoo's published rules (CONTRIBUTING.md): the config properties of the train and inference
workflows, ``verify_net_in_out``, ``ckpt_export`` to TorchScript, ``onnx_export`` (here with a dynamic
batch), and ``monai.bundle.load`` for both workflow types.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.modules["custom"] = None  # the exported bundle must run on its own code: any ``import custom`` fails
BUNDLE = Path.cwd()
sys.path.insert(0, str(BUNDLE))  # as ``python -m monai.bundle run`` from the bundle folder has it

import numpy as np  # noqa: E402
import torch  # noqa: E402
from monai.bundle import ConfigWorkflow, ckpt_export, load, onnx_export, verify_net_in_out  # noqa: E402

CONFIGS = {"train": "configs/train.json", "inference": "configs/inference.json"}
META = "configs/metadata.json"


def main() -> None:
    results: dict = {"loaded_tensors": {}, "missing_properties": {}}
    weights = torch.load(BUNDLE / "models" / "model.pt", map_location="cpu", weights_only=True)
    for workflow_type, config in CONFIGS.items():
        network = load(BUNDLE.name, bundle_dir=str(BUNDLE.parent), workflow_type=workflow_type, device="cpu",
                       progress=False)
        state = network.state_dict()
        results["loaded_tensors"][workflow_type] = sum(
            key in state and torch.equal(state[key], value) for key, value in weights.items())
        workflow = ConfigWorkflow(config_file=config, meta_file=META, workflow_type=workflow_type)
        workflow.initialize()
        results["missing_properties"][workflow_type] = workflow.check_properties()
    results["weights"] = len(weights)

    verify_net_in_out(net_id="network_def", meta_file=META, config_file=CONFIGS["inference"], device="cpu")
    results["verify_net_in_out"] = True

    network = load(BUNDLE.name, bundle_dir=str(BUNDLE.parent), workflow_type="inference", device="cpu",
                   progress=False).eval()
    data_format = json.loads(Path(META).read_text())["network_data_format"]
    (output_name,) = data_format["outputs"]
    ckpt_export(net_id="network_def", filepath="models/model.ts", ckpt_file="models/model.pt", meta_file=META,
                config_file=CONFIGS["inference"])
    scripted = torch.jit.load("models/model.ts", map_location="cpu").eval()
    onnx_export(net_id="network_def", filepath="models/model.onnx", ckpt_file="models/model.pt", meta_file=META,
                config_file=CONFIGS["inference"], use_trace=True,
                converter_kwargs={"input_names": ["image"], "output_names": [output_name],
                                  "dynamic_axes": {"image": {0: "batch"}, output_name: {0: "batch"}}})
    import onnxruntime

    session = onnxruntime.InferenceSession("models/model.onnx", providers=["CPUExecutionProvider"])
    size = data_format["inputs"]["image"]["spatial_shape"]
    results["max_abs_difference"] = {}
    for batch in (1, 3, 8):  # the ONNX graph was traced with batch 1: other batch sizes need the dynamic axis
        image = torch.rand(batch, 1, *size, generator=torch.Generator().manual_seed(batch))
        with torch.no_grad():
            reference = network(image).numpy()
            (onnx_output,) = session.run(None, {"image": image.numpy()})
            results["max_abs_difference"][batch] = {
                "torchscript": float(np.abs(scripted(image).numpy() - reference).max()),
                "onnx": float(np.abs(onnx_output - reference).max()) if onnx_output.shape == reference.shape else None,
            }
    print(json.dumps(results))


if __name__ == "__main__":
    main()
