"""mtpd: Multi-Teacher Progressive Distillation for MMDetection 2.x detectors.

Importing the package applies its fixes of the pinned dependencies once (`mtpd.compat`) and
registers its components with MMDetection's registries (MGDLoss, CWDLoss and FGDLoss in LOSSES, DetectionDistiller in
DETECTORS, DeviceSafeRepPointsHead in HEADS, ZeroInitResNeXt in BACKBONES, ZeroOffsetDCN in mmcv's
CONV_LAYERS, ShapesDataset in DATASETS, the training hooks in HOOKS, the exact-resume runners in
RUNNERS and their constructor in RUNNER_BUILDERS), so a config can name them after `import mtpd` or with
`custom_imports = dict(imports=['mtpd'])`.
This file is written by hand (nbdev keeps only the version line up to date); every other module is
exported from its notebook in nbs/.
"""
__version__ = "0.1.0"

from . import compat as _compat
_compat.apply_all()
from . import mgd, cwd, fgd, heads, backbones, data, distiller, resume, train  # noqa: F401,E402  (registration side effects)
