"""The 2D image lab (field, fit, analysis, compression, figures, the vnp-image CLI) and the demo-scene
generator (vnp-scene). Uses the core only, never nerfstudio."""
