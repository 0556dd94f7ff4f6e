import numpy as np
import pytest

from mricompendium.data.template import mni152


def test_template_at_4mm_is_consistent():
    t = mni152(4.0)
    assert t.shape == t.gm.shape == t.mask.shape
    assert t.shape == (49, 58, 47)
    tissue = t.tissue()
    assert tissue.shape == (3, *t.shape)
    # probabilities sum to the brain mask inside it, nothing outside
    total = tissue.sum(0)
    assert np.all(total[~t.mask] == 0)
    assert np.all(total[t.mask] <= 1 + 1e-5)
    # WM brighter than GM brighter than CSF on the T1 template
    means = [t.t1[p > 0.7].mean() for p in (t.csf, t.gm, t.wm)]
    assert means[0] < means[1] < means[2]
    assert np.allclose(np.abs(np.diag(t.affine)[:3]), 4.0)


def test_template_rejects_sub_native_spacing():
    with pytest.raises(ValueError, match="spacing_mm"):
        mni152(0.5)
