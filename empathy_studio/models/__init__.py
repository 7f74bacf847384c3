"""What a model is: encoders, the two families' heads and predictors, calibration, the lexical terms, ZeroR.

This package loads and runs models; how one is made lives in `training`. Nothing
here imports `training`, `services` or `ui` (a test checks it), and importing the
package itself loads no torch: each module pulls in what it needs.
"""
