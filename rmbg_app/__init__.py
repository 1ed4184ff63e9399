"""rmbg: background removal with RMBG-2.0 / BiRefNet, served by Gradio.

Data flow: ``pipeline.decode`` (upload -> RGB + alpha) -> ``pipeline.matte``
(model -> matte) -> ``pipeline.compose`` (matte -> cutout) -> ``pipeline.encode``
(cutout -> PNG file), driven by ``engine.Engine`` over the model from ``model``.
"""

__version__ = "0.1.0"
