"""The layers every generic test runs over: a factory taking seed/generator keywords, and an
input shape the layer takes."""

import dropkit

CASES = {
    "Dropout": (lambda **kw: dropkit.Dropout(0.4, **kw), (6, 7, 5)),
    "Dropout-unscaled": (lambda **kw: dropkit.Dropout(0.4, scale=False, **kw), (6, 7, 5)),
    "GaussianDropout": (lambda **kw: dropkit.GaussianDropout(0.3, **kw), (6, 7, 5)),
    "GaussianNoise": (lambda **kw: dropkit.GaussianNoise(0.5, **kw), (6, 7, 5)),
    "SpatialDropout1D": (lambda **kw: dropkit.SpatialDropout1D(0.5, **kw), (4, 6, 5)),
    "SpatialDropout2D-NCHW": (lambda **kw: dropkit.SpatialDropout2D(0.5, **kw), (3, 4, 5, 6)),
    "SpatialDropout2D-NHWC": (
        lambda **kw: dropkit.SpatialDropout2D(0.5, "NHWC", scale=True, **kw),
        (3, 5, 6, 4),
    ),
    "SpatialDropout3D-NCHW": (lambda **kw: dropkit.SpatialDropout3D(0.5, **kw), (2, 3, 4, 3, 5)),
    "SpatialDropout3D-NHWC": (
        lambda **kw: dropkit.SpatialDropout3D(0.5, "nhwc", **kw),
        (2, 4, 3, 5, 3),
    ),
    "AlphaDropout": (lambda **kw: dropkit.AlphaDropout(0.3, **kw), (6, 7, 5)),
    "FeatureAlphaDropout": (lambda **kw: dropkit.FeatureAlphaDropout(0.5, **kw), (3, 4, 5, 6)),
    "FeatureAlphaDropout-last": (
        lambda **kw: dropkit.FeatureAlphaDropout(0.5, "channels_last", **kw),
        (3, 5, 6, 4),
    ),
}

CLASSES = [
    dropkit.Dropout,
    dropkit.GaussianDropout,
    dropkit.GaussianNoise,
    dropkit.SpatialDropout1D,
    dropkit.SpatialDropout2D,
    dropkit.SpatialDropout3D,
    dropkit.AlphaDropout,
    dropkit.FeatureAlphaDropout,
]
