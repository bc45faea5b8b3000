"""textcls: train, evaluate and explain text classifiers and taggers with PyTorch."""

__version__ = "0.1.0"
