"""RealisID: scale-robust, fine-controllable identity customization for SDXL (AAAI 2025)."""

__version__ = "0.1.0"
