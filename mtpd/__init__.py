"""mtpd: Multi-Teacher Progressive Distillation for MMDetection 2.x detectors.

Importing the package registers its components with MMDetection's registries (MGDLoss in LOSSES,
DetectionDistiller in DETECTORS, DeviceSafeRepPointsHead in HEADS, ZeroInitResNeXt in BACKBONES, ShapesDataset in DATASETS, the
training hooks in HOOKS), so a config can name them after
`import mtpd` or with `custom_imports = dict(imports=['mtpd'])`.
This file is written by hand (nbdev keeps only the version line up to date); every other module is
exported from its notebook in nbs/.
"""
__version__ = "0.1.0"

import logging as _logging, warnings as _warnings
# Users should see mtpd's output, not the same two notices from every process that imports mmcv:
# torch's CUDA_HOME notice on CPU-only hosts and mmcv's 2023 deprecation announcement.
_logging.getLogger('torch.utils.cpp_extension').setLevel(_logging.ERROR)
_warnings.filterwarnings('ignore', message='On January 1, 2023, MMCV will release v2.0.0')
from . import mgd, heads, backbones, data, distiller, train  # noqa: F401,E402  (registration side effects)
